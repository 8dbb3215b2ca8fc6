import MagmaPlatform
import MagmaProtocol
import MagmaWire

extension VirtGPUDevice {
    /// Submits `commands` fenced on the connection's ring `ring` (`VirtioCalls`, `VirtioWatcher`,
    /// `VirtioNotifications`, `VirtioWaitRings` number them): that ring where CONTEXT_INIT made
    /// it, ring 0 (the device's one timeline) where the device has one ring only.
    func submit(_ commands: [UInt8], onFenceRing ring: UInt8) throws(MagmaError) -> any VirtGPUFence {
        let target = Int(ring) < fenceRingCount ? ring : 0
        guard let fence = try submit(commands, fenceOnRing: target) else { throw .internalError("a fenced submission without a fence") }
        return fence
    }
}

/// A reply area of its own for each pending wait of a connection (512-byte slots of one-page
/// resources, made as they are needed), so a wait's reply says what ended it: its outcome, or
/// `preempted_reply` (it is then submitted again with the same slot).
final class VirtioReplySlots: Sendable {
    static let slotBytes = 512
    private static let perPage = SharedMemory.pageSize / slotBytes

    private struct Pool {
        var pages: [any VirtGPUResource] = []
        var free: [Int] = []
    }

    private let device: any VirtGPUDevice
    private let pool = Locked(Pool())

    init(device: any VirtGPUDevice) { self.device = device }

    /// A free slot, zeroed; a new page of slots when every slot is taken.
    func take() throws(MagmaError) -> VirtioReplySlot {
        if let index = pool.withLock({ $0.free.popLast() }) { return slot(index) }
        let page = try device.createResource(size: SharedMemory.pageSize)
        let index = pool.withLock { pool -> Int in
            pool.pages.append(page)
            let first = (pool.pages.count - 1) * Self.perPage
            pool.free += (first + 1)..<(first + Self.perPage)
            return first
        }
        return slot(index)
    }

    /// Gives a slot back.
    func give(_ slot: VirtioReplySlot) { pool.withLock { $0.free.append(slot.index) } }

    private func slot(_ index: Int) -> VirtioReplySlot {
        let page = pool.withLock { $0.pages[index / Self.perPage] }
        let slot = VirtioReplySlot(index: index, resource: page, offset: (index % Self.perPage) * Self.slotBytes)
        slot.clear()
        return slot
    }
}

/// One reply area: `slotBytes` of a guest resource the host writes a reply into.
struct VirtioReplySlot: Sendable {
    let index: Int
    let resource: any VirtGPUResource
    let offset: Int

    var area: GuestReplyArea {
        GuestReplyArea(resourceId: resource.resourceId, offset: UInt32(offset), length: UInt32(VirtioReplySlots.slotBytes))
    }

    /// Zeroes it before a submission (a reply of zero length is "none written").
    func clear() { bytes.initializeMemory(as: UInt8.self, repeating: 0) }

    /// The reply the host wrote, if a well-formed one is there.
    var reply: VirtioContextProtocol.ServerMessage? { Self.decode(bytes) }

    private var bytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: resource.mapping[offset..<(offset + VirtioReplySlots.slotBytes)])
    }

    /// The reply message a reply area holds: length-prefixed (the message header's first word).
    static func decode(_ bytes: UnsafeMutableRawBufferPointer) -> VirtioContextProtocol.ServerMessage? {
        let length = Int(UInt32(littleEndian: bytes.load(as: UInt32.self)))
        guard length >= MessageHeader.byteCount, length <= bytes.count else { return nil }
        return try? VirtioContextProtocol.ServerMessage.decode(bytes: Array(bytes[0..<length])).message
    }
}
