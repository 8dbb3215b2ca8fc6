import MagmaPlatform
import MagmaProtocol
import MagmaWire

/// Synchronous context calls of one connection: each takes a 512-byte reply slot of a reply
/// resource, submits its command fenced on the call ring, waits for the fence (no lock held)
/// and reads the reply the host wrote into the slot.
///
/// Fences on one ring complete in order, so a call waits for every call before it on its ring
/// (never for a wait: the host preempts waits before a later fence, and a preempted
/// `sync_notifications` is asked again).
/// The connection's own calls go on `callRing`; the watcher thread's (the semaphore checks after
/// work that waited) on `watcherRing`, so they never wait behind a `sync_notifications`, whose
/// fence needs the watcher to have armed the next read (the two waited on each other: a
/// watcher blocked behind the sync could not arm it).
final class VirtioCalls: Sendable {
    static let slotBytes = 512
    /// The ring of the connection's calls.
    static let callRing: UInt8 = 0
    /// The ring of the watcher thread's calls.
    static let watcherRing: UInt8 = 5
    private let ring: UInt8
    private let device: any VirtGPUDevice
    private let replies: any VirtGPUResource
    private let free: LockedCondition<[Int]>

    init(device: any VirtGPUDevice, ring: UInt8) throws(MagmaError) {
        self.ring = ring
        self.device = device
        replies = try device.createResource(size: SharedMemory.pageSize)
        free = LockedCondition(Array(0..<(SharedMemory.pageSize / Self.slotBytes)))
    }

    /// Submits the command `make` builds for a reply area, waits for its fence and decodes the reply.
    func call(_ make: (GuestReplyArea) -> VirtioContextProtocol.ClientMessage) throws(MagmaError) -> VirtioContextProtocol.ServerMessage {
        guard let slot = free.wait(until: Deadline(after: Poller.forever), { $0.popLast() }) else { throw .internalError("no reply slot") }
        defer {
            free.withLock { $0.append(slot) }
            free.broadcast()
        }
        let offset = slot * Self.slotBytes
        let area = GuestReplyArea(resourceId: replies.resourceId, offset: UInt32(offset), length: UInt32(Self.slotBytes))
        let bytes = UnsafeMutableRawBufferPointer(rebasing: replies.mapping[offset..<(offset + Self.slotBytes)])
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
        let payload: [UInt8]
        do { payload = try VirtioContextCommand.payload([.virtio(make(area))]) } catch { throw .internalError("\(error)") }
        while true {
            let fence = try device.submit(payload, onFenceRing: ring)
            guard device.wait(fence, timeoutNanoseconds: Poller.forever) else { throw MagmaError(.connectionLost, "call fence") }
            let length = Int(UInt32(littleEndian: bytes.load(as: UInt32.self)))
            guard length >= MessageHeader.byteCount, length <= Self.slotBytes else {
                throw MagmaError(.connectionLost, "the host wrote no reply (the context has failed)")
            }
            let reply: VirtioContextProtocol.ServerMessage
            do { reply = try VirtioContextProtocol.ServerMessage.decode(bytes: Array(bytes[0..<length])).message } catch {
                throw .internalError("reply: \(error)")
            }
            // A call that waits (`sync_notifications`) may be preempted by a later fence of its
            // timeline: it is asked again. Calls that do not wait are never preempted.
            guard case .preemptedReply = reply else { return reply }
            bytes.initializeMemory(as: UInt8.self, repeating: 0)
        }
    }

    /// A call answered by status_reply: throws its error.
    func statusCall(_ make: (GuestReplyArea) -> VirtioContextProtocol.ClientMessage) throws(MagmaError) {
        guard case .statusReply(let reply) = try call(make) else { throw .internalError("expected status_reply") }
        guard reply.status == .ok else { throw MagmaError(reply.status, reply.reason) }
    }

    /// A call answered by value_reply: its value. value_reply carries no reason, so a failed
    /// context's error (which is then the connection's first failure, when this call sees it
    /// before the failure watch does) is asked for in words by a `flush`, whose reply has it.
    func valueCall(_ make: (GuestReplyArea) -> VirtioContextProtocol.ClientMessage) throws(MagmaError) -> UInt64 {
        guard case .valueReply(let reply) = try call(make) else { throw .internalError("expected value_reply") }
        guard reply.status == .ok else {
            if reply.status != .invalidArgs && reply.status != .unimplemented { try statusCall { .flush(.init(reply: $0)) } }
            throw MagmaError(reply.status, "query")
        }
        return reply.value
    }
}
