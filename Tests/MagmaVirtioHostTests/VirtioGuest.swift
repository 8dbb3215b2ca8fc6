import Magma
import MagmaDevices
import MagmaGuestMemory
import MagmaPlatform
import MagmaProtocol
import MagmaVirtioHost
import MagmaWire
import SoftGPU
import Testing

/// A test playing one guest against a device model in this process: its RAM (a memfd it maps
/// itself, shared with the model as one region at guest address 0) and the control commands a
/// guest driver would send.
final class VirtioGuest {
    static let page = SharedMemory.pageSize
    let ram: SharedMemory
    let model: VirtioDeviceModel
    private var nextFence: UInt64 = 1

    init(device: Device, pages: Int = 64, limits: VirtioDeviceLimits = VirtioDeviceLimits()) throws {
        ram = try SharedMemory.create(size: pages * Self.page, name: "virtio-test-guest-ram")
        model = try VirtioDeviceModel(device: device, limits: limits)
        try model.memory.add(region: GuestMemoryRegion(guestAddress: 0, size: UInt64(ram.size), memfd: try #require(ram.descriptor).duplicate()))
    }

    /// A device of its own (SoftGPU in this process), so tests never share one.
    static func device() throws -> Device { try Device.open(.inProcess(SoftGPUDriver())) }

    /// The guest's own view of its RAM.
    var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: ram.base, count: ram.size) }

    struct Answer {
        let header: VirtioGPU.ControlHeader
        let response: VirtioGPU.Response
        let completion: EventSemaphore?
    }

    /// Sends one command; `fenced` sets FLAG_FENCE (and `ring` FLAG_INFO_RING_IDX).
    @discardableResult
    func send(_ command: VirtioGPU.Command, context: UInt32 = 0, fenced: Bool = false, ring: UInt8? = nil) throws -> Answer {
        var flags: UInt32 = fenced ? VirtioGPU.flagFence : 0
        if ring != nil { flags |= VirtioGPU.flagInfoRingIndex }
        let fenceId = fenced ? nextFence : 0
        if fenced { nextFence += 1 }
        let header = VirtioGPU.ControlHeader(type: 0, flags: flags, fenceId: fenceId, contextId: context, ringIndex: ring ?? 0)
        return try raw(VirtioGPU.encode(header, command))
    }

    func raw(_ bytes: [UInt8]) throws -> Answer {
        let result = model.perform(bytes)
        let (header, response) = try VirtioGPU.decodeResponse(result.response)
        return Answer(header: header, response: response, completion: result.completion)
    }

    /// Sends and expects OK_NODATA.
    func ok(_ command: VirtioGPU.Command, context: UInt32 = 0) throws {
        let answer = try send(command, context: context)
        #expect(answer.response == .okNoData, "\(command)")
    }

    func createContext(_ id: UInt32) throws {
        try ok(.contextCreate(contextInit: VirtioGPU.magmaCapsetId, debugName: Array("test".utf8)), context: id)
    }

    /// A buffer resource of `pages` pages backed by the guest pages from `guestPage`, attached to `context`.
    func createResource(_ id: UInt32, guestPage: Int, pages: Int = 1, context: UInt32) throws {
        try ok(.resourceCreate3D(.buffer(id: id, size: UInt32(pages * Self.page))))
        try ok(.resourceAttachBacking(resourceId: id, entries: [
            VirtioGPU.MemoryEntry(address: UInt64(guestPage * Self.page), length: UInt32(pages * Self.page)),
        ]))
        try ok(.contextAttachResource(resourceId: id), context: context)
    }

    /// Submits context commands; returns the fence's completion when fenced.
    @discardableResult
    func submit(_ commands: [VirtioContextCommand], context: UInt32, fenced: Bool = false, ring: UInt8? = nil) throws -> EventSemaphore? {
        let answer = try send(.submit3D(commands: try VirtioContextCommand.payload(commands)), context: context, fenced: fenced, ring: ring)
        #expect(answer.response == .okNoData)
        #expect(answer.completion != nil || !fenced)
        return answer.completion
    }

    /// The reply message at byte `offset` of guest page `guestPage`.
    func reply(guestPage: Int, offset: Int = 0) throws -> VirtioContextProtocol.ServerMessage {
        let start = guestPage * Self.page + offset
        let length = Int(bytes.load(fromByteOffset: start, as: UInt32.self).littleEndian)
        guard length >= 24, length <= Self.page else { throw MagmaError.internalError("no reply at page \(guestPage)+\(offset)") }
        return try VirtioContextProtocol.ServerMessage.decode(bytes: Array(bytes[start..<(start + length)])).message
    }

    func status(guestPage: Int, offset: Int = 0) throws -> MagmaStatus? {
        guard case .statusReply(let reply) = try reply(guestPage: guestPage, offset: offset) else { return nil }
        return reply.status
    }
}

/// A reply area of `length` bytes (512) at `offset` in resource `resource`.
func area(_ resource: UInt32, offset: UInt32 = 0, length: UInt32 = 512) -> GuestReplyArea {
    GuestReplyArea(resourceId: resource, offset: offset, length: length)
}

/// Waits for a completion, at most `seconds` (a test fails rather than hangs).
func completes(_ completion: EventSemaphore?, within seconds: UInt64 = 20) -> Bool {
    completion?.wait(timeoutNanoseconds: seconds * 1_000_000_000) == true
}
