import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtioHost
import MagmaWire
import Testing

/// export_object and import_object between contexts of one guest, by hand, and hostile uses:
/// unknown share ids, another guest's, released objects, destroyed exporters, wrong types.
@Suite("Semaphores and timelines shared between contexts of one guest", .hangGuard)
struct ShareCommandTests {
    /// A guest with contexts 1 and 2, resources 10 (guest page 1) and 20 (page 2) attached to them.
    private func twoContexts(_ device: Device? = nil, limits: VirtioDeviceLimits = VirtioDeviceLimits()) throws -> VirtioGuest {
        let guest = try VirtioGuest(device: try device ?? VirtioGuest.device(), limits: limits)
        try guest.createContext(1)
        try guest.createContext(2)
        try guest.createResource(10, guestPage: 1, context: 1)
        try guest.createResource(20, guestPage: 2, context: 2)
        return guest
    }

    /// Runs one call fenced on ring 0 of `context` and returns the status its reply says.
    private func call(_ guest: VirtioGuest, _ message: VirtioContextProtocol.ClientMessage, context: UInt32,
                      slot: Int = 0) throws -> MagmaStatus? {
        #expect(completes(try guest.submit([.virtio(message)], context: context, fenced: true, ring: 0)))
        return try guest.status(guestPage: Int(context), offset: slot * 512)
    }

    /// The reply area of `slot` in `context`'s resource.
    private func reply(_ context: UInt32, slot: Int = 0) -> GuestReplyArea { area(context * 10, offset: UInt32(slot * 512)) }

    private func export(_ guest: VirtioGuest, _ id: UInt64, _ type: ObjectType, share: UInt64, context: UInt32 = 1) throws -> MagmaStatus? {
        try call(guest, .exportObject(.init(objectId: id, objectType: type, shareId: share, reply: reply(context))), context: context)
    }

    private func importShare(_ guest: VirtioGuest, _ share: UInt64, _ type: ObjectType, as id: UInt64, context: UInt32 = 2) throws -> MagmaStatus? {
        try call(guest, .importObject(.init(shareId: share, objectType: type, objectId: id, flags: [], reply: reply(context))), context: context)
    }

    private func semaphoreState(_ guest: VirtioGuest, _ id: UInt64, context: UInt32) throws -> UInt64? {
        #expect(completes(try guest.submit([.virtio(.getSemaphoreState(.init(semaphoreId: id, reply: reply(context, slot: 1))))],
                                           context: context, fenced: true, ring: 0)))
        guard case .valueReply(let answer) = try guest.reply(guestPage: Int(context), offset: 512), answer.status == .ok else { return nil }
        return answer.value
    }

    /// Whether the context is still usable: a flush answers ok.
    private func usable(_ guest: VirtioGuest, _ context: UInt32) throws -> Bool {
        try call(guest, .flush(.init(reply: reply(context, slot: 2))), context: context, slot: 2) == .ok
    }

    @Test func anImportedSemaphoreIsTheExportersSemaphore() throws {
        let guest = try twoContexts()
        try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 3)))], context: 1)
        #expect(try export(guest, 3, .semaphore, share: 100) == .ok)
        #expect(try importShare(guest, 100, .semaphore, as: 3) == .ok)   // context 2's ids are its own
        #expect(try importShare(guest, 100, .semaphore, as: 4) == .ok)   // a second import: another id, one object
        let waiting = try guest.submit([.virtio(.waitSemaphores(.init(semaphoreIds: [4], waitAll: true, reply: reply(2, slot: 3))))],
                                       context: 2, fenced: true, ring: 1)
        try guest.submit([.virtio(.signalSemaphore(.init(semaphoreId: 3)))], context: 1)
        #expect(completes(waiting))
        #expect(try semaphoreState(guest, 3, context: 2) == 1)
        try guest.submit([.virtio(.resetSemaphore(.init(semaphoreId: 4)))], context: 2)
        #expect(try semaphoreState(guest, 3, context: 1) == 0)
        #expect(guest.model.shareCount == 1)
        // Releasing the exporter's semaphore drops the share; the imports live on.
        try guest.submit([.primary(.releaseObject(.init(objectId: 3, objectType: .semaphore)))], context: 1)
        #expect(guest.model.shareCount == 0)
        #expect(try importShare(guest, 100, .semaphore, as: 5) == .invalidArgs)
        try guest.submit([.virtio(.signalSemaphore(.init(semaphoreId: 3)))], context: 2)
        #expect(try semaphoreState(guest, 4, context: 2) == 1)
        #expect(try usable(guest, 1) && usable(guest, 2))
    }

    @Test func anImportedTimelineIsTheExportersTimeline() throws {
        let guest = try twoContexts()
        try guest.submit([.virtio(.createTimeline(.init(timelineId: 7, initialValue: 1)))], context: 1)
        #expect(try export(guest, 7, .timeline, share: 1) == .ok)
        #expect(try importShare(guest, 1, .timeline, as: 9) == .ok)
        let waiting = try guest.submit([.virtio(.waitTimeline(.init(timelineId: 7, point: 5, waitId: 1, reply: reply(1, slot: 3))))],
                                       context: 1, fenced: true, ring: 1)
        #expect(try call(guest, .signalTimeline(.init(timelineId: 9, point: 5, reply: reply(2))), context: 2) == .ok)
        #expect(completes(waiting))
        #expect(try guest.status(guestPage: 1, offset: 3 * 512) == .ok)
        // The exporter's context destroyed: its share is gone, the import lives on.
        try guest.ok(.contextDestroy, context: 1)
        #expect(guest.model.shareCount == 0)
        try guest.createContext(3)
        try guest.createResource(30, guestPage: 3, context: 3)
        #expect(try importShare(guest, 1, .timeline, as: 1, context: 3) == .invalidArgs)
        #expect(try call(guest, .signalTimeline(.init(timelineId: 9, point: 6, reply: reply(2))), context: 2) == .ok)
    }

    @Test func badSharesAreRefusedWithTheContextUsable() throws {
        let device = try VirtioGuest.device()
        let guest = try twoContexts(device)
        try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 3)))], context: 1)
        try guest.submit([.virtio(.createTimeline(.init(timelineId: 4, initialValue: 0)))], context: 1)
        #expect(try export(guest, 3, .semaphore, share: 0) == .invalidArgs)       // share id 0
        #expect(try export(guest, 3, .semaphore, share: 8) == .ok)
        #expect(try export(guest, 4, .timeline, share: 8) == .invalidArgs)        // share id in use
        #expect(try export(guest, 3, .buffer, share: 9) == .invalidArgs)          // buffers are resources
        #expect(try importShare(guest, 77, .semaphore, as: 1) == .invalidArgs)    // never exported
        #expect(try importShare(guest, 8, .timeline, as: 1) == .invalidArgs)      // a semaphore, not a timeline
        #expect(try importShare(guest, 8, .buffer, as: 1) == .invalidArgs)
        #expect(try call(guest, .importObject(.init(shareId: 8, objectType: .semaphore, objectId: 1, flags: [.oneShot],
                                                    reply: reply(2))), context: 2) == .ok)
        // Another guest of the same host device holds none of this guest's shares.
        let other = try twoContexts(device)
        #expect(try importShare(other, 8, .semaphore, as: 1) == .invalidArgs)
        #expect(try usable(guest, 1) && usable(guest, 2) && usable(other, 2))
        #expect(guest.model.shareCount == 1 && other.model.shareCount == 0)
    }

    @Test func sharesAreBoundedPerGuest() throws {
        let guest = try twoContexts(limits: VirtioDeviceLimits(maxShares: 2))
        try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 3)))], context: 1)
        #expect(try export(guest, 3, .semaphore, share: 1) == .ok)
        #expect(try export(guest, 3, .semaphore, share: 2) == .ok)   // one object, many shares
        #expect(try export(guest, 3, .semaphore, share: 3) == .memoryError)
        // Releasing the object drops all of its shares: room again.
        try guest.submit([.primary(.releaseObject(.init(objectId: 3, objectType: .semaphore)))], context: 1)
        try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 4)))], context: 1)
        #expect(try export(guest, 4, .semaphore, share: 3) == .ok)
        #expect(try usable(guest, 1) && guest.model.shareCount == 1)
    }

    @Test func unknownAndUsedObjectIdsFailTheContext() throws {
        let guest = try twoContexts()
        try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 3)))], context: 1)
        #expect(try export(guest, 3, .semaphore, share: 1) == .ok)
        // An import under an id context 2 already uses fails context 2.
        try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 6)))], context: 2)
        let watchTwo = try guest.submit([.virtio(.watchFailure(.init(reply: reply(2, slot: 4))))], context: 2, fenced: true, ring: 3)
        try guest.submit([.virtio(.importObject(.init(shareId: 1, objectType: .semaphore, objectId: 6, flags: [], reply: reply(2))))],
                         context: 2)
        #expect(completes(watchTwo))
        #expect(try guest.status(guestPage: 2, offset: 4 * 512) == .invalidArgs)
        // Exporting a released (so unknown) semaphore fails context 1; the share made before stays.
        try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 5)))], context: 1)
        try guest.submit([.primary(.releaseObject(.init(objectId: 5, objectType: .semaphore)))], context: 1)
        let watchOne = try guest.submit([.virtio(.watchFailure(.init(reply: reply(1, slot: 4))))], context: 1, fenced: true, ring: 3)
        try guest.submit([.virtio(.exportObject(.init(objectId: 5, objectType: .semaphore, shareId: 2, reply: reply(1))))], context: 1)
        #expect(completes(watchOne))
        #expect(try guest.status(guestPage: 1, offset: 4 * 512) == .invalidArgs)
        #expect(guest.model.shareCount == 1)
        // A failed context's calls are answered with its error.
        #expect(try importShare(guest, 1, .semaphore, as: 9) == .invalidArgs)
    }
}
