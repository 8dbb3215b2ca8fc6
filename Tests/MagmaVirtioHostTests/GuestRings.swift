import Synchronization
import MagmaPlatform
import MagmaProtocol
import MagmaRing
import MagmaVirtioHost
import MagmaWire
import Testing

/// A test guest's two command rings (`create_ring`), formatted by hand in a resource of its
/// RAM: the creation ring in its first two pages, the queue ring in the next two.
final class GuestRings {
    static let ringSize = 4096
    static let regionBytes = 2 * VirtioGuest.page
    let creation: RingProducer
    let queue: RingProducer
    let doorbell: WakeRingsDoorbell
    let resource: UInt32
    /// The guest, kept alive with its RAM while the rings are used.
    let guest: VirtioGuest
    /// The rings' headers in the guest's own mapping.
    let creationBase: UnsafeMutableRawPointer
    let queueBase: UnsafeMutableRawPointer

    /// Sets up both rings of `context` in resource `resource` (made here, 4 pages from
    /// `guestPage`); the create_ring replies go to `replyResource`'s guest page `replyPage`.
    init(_ guest: VirtioGuest, context: UInt32, resource: UInt32, guestPage: Int, replyResource: UInt32, replyPage: Int) throws {
        self.resource = resource
        self.guest = guest
        try guest.createResource(resource, guestPage: guestPage, pages: 4, context: context)
        creationBase = guest.bytes.baseAddress! + guestPage * VirtioGuest.page
        queueBase = creationBase + Self.regionBytes
        doorbell = WakeRingsDoorbell(model: guest.model, context: context)
        for (kind, base) in [(VirtioRingKind.creation, creationBase), (.queue, queueBase)] {
            try RingRegion(base: base, length: Self.regionBytes).format(ringSize: Self.ringSize)
            #expect(try guest.createRing(kind, context: context, resource: resource, offset: base - creationBase,
                                         size: Self.regionBytes, reply: replyResource, replyPage: replyPage) == .ok)
        }
        creation = try RingProducer(region: RingRegion(base: creationBase, length: Self.regionBytes), doorbell: doorbell)
        queue = try RingProducer(region: RingRegion(base: queueBase, length: Self.regionBytes), doorbell: doorbell)
    }

    /// Writes `commands` as one record of `ring`.
    @discardableResult
    func submit(_ commands: [VirtioContextCommand], on ring: RingProducer, dependsOn: UInt64 = 0) throws -> UInt64 {
        let payload = try VirtioContextCommand.payload(commands)
        return try payload.withUnsafeBytes { try ring.submit($0, dependsOn: dependsOn, timeoutNanoseconds: 20_000_000_000) }
    }

    /// Waits (20 s at most) until the host has applied `seqno` of `ring`.
    func applied(_ seqno: UInt64, on ring: RingProducer) -> Bool {
        (try? ring.wait(forCompleted: seqno, timeoutNanoseconds: 20_000_000_000)) != nil
    }

    /// Waits (20 s at most) until the host's consumer has said ASLEEP on `base`'s ring.
    static func asleep(_ base: UnsafeMutableRawPointer) -> Bool {
        var backoff = RingBackoff(spinNanoseconds: 0)
        while SharedWords.loadAcquire32(base + 144) != RingStatus.asleep.rawValue {
            guard backoff.pause(timeoutNanoseconds: 20_000_000_000) else { return false }
        }
        return true
    }
}

/// The guest's doorbell: an unfenced SUBMIT_3D of `wake_rings`, counted.
final class WakeRingsDoorbell: RingDoorbell {
    let model: VirtioDeviceModel
    let context: UInt32
    private let count = Atomic(0)
    /// While set, a ring is counted and sends nothing (the host's consumer stays asleep, so
    /// only a SUBMIT_3D drains what the guest wrote).
    let muted = Atomic(false)

    init(model: VirtioDeviceModel, context: UInt32) {
        self.model = model
        self.context = context
    }

    var pings: Int { count.load(ordering: .acquiring) }

    func ring() {
        count.add(1, ordering: .relaxed)
        guard !muted.load(ordering: .acquiring) else { return }
        let payload = (try? VirtioContextCommand.payload([.virtio(.wakeRings(.init()))])) ?? []
        _ = model.perform(VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0, contextId: context), .submit3D(commands: payload)))
    }
}

extension VirtioGuest {
    /// Sends `create_ring` (fenced) and returns its reply's status.
    func createRing(_ kind: VirtioRingKind, context: UInt32, resource: UInt32, offset: Int, size: Int,
                    reply: UInt32, replyPage: Int) throws -> MagmaStatus? {
        let completion = try submit([.virtio(.createRing(.init(kind: kind, resourceId: resource, offset: UInt32(offset), size: UInt32(size),
                                                             reply: area(reply))))], context: context, fenced: true, ring: 0)
        #expect(completes(completion))
        return try status(guestPage: replyPage)
    }

    /// Sends `watch_failure` (fenced); its completion.
    func watchFailure(context: UInt32, reply: UInt32) throws -> EventSemaphore? {
        try submit([.virtio(.watchFailure(.init(reply: area(reply))))], context: context, fenced: true, ring: 3)
    }

    /// Whether semaphore `id` of `context` is signaled, asked with a SUBMIT_3D call.
    func semaphoreSignaled(_ id: UInt64, context: UInt32, reply: UInt32, replyPage: Int) throws -> Bool? {
        let completion = try submit([.virtio(.getSemaphoreState(.init(semaphoreId: id, reply: area(reply))))], context: context, fenced: true, ring: 0)
        #expect(completes(completion))
        guard case .valueReply(let answer) = try self.reply(guestPage: replyPage), answer.status == .ok else { return nil }
        return answer.value == 1
    }
}
