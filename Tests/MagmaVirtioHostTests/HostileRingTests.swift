import MagmaPlatform
import MagmaProtocol
import MagmaRing
import MagmaTestSupport
import MagmaVirtioHost
import MagmaWire
import Testing

/// Each test breaks context 1's rings and checks that only context 1 fails (typed, through its
/// failure watch), while context 2 of the same guest goes on using its own rings.
@Suite("A hostile guest's command rings fail only its context", .hangGuard)
struct HostileRingTests {
    private struct Setup {
        let guest: VirtioGuest
        let victim: GuestRings
        let bystander: GuestRings
        let watch: EventSemaphore?
    }

    /// Contexts 1 and 2, reply resources 10 (page 1), 11 (page 2, context 1's failure watch)
    /// and 12 (page 3), rings of context 1 at page 8 and of context 2 at page 16.
    private func setUp() throws -> Setup {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createContext(2)
        try guest.createResource(10, guestPage: 1, context: 1)
        try guest.createResource(11, guestPage: 2, context: 1)
        try guest.createResource(12, guestPage: 3, context: 2)
        let victim = try GuestRings(guest, context: 1, resource: 20, guestPage: 8, replyResource: 10, replyPage: 1)
        let bystander = try GuestRings(guest, context: 2, resource: 21, guestPage: 16, replyResource: 12, replyPage: 3)
        return Setup(guest: guest, victim: victim, bystander: bystander, watch: try guest.watchFailure(context: 1, reply: 11))
    }

    /// Context 1 failed with `status`; context 2's rings still apply records.
    private func expectOnlyTheVictimFailed(_ s: Setup, _ status: MagmaStatus) throws {
        #expect(completes(s.watch))
        #expect(try s.guest.status(guestPage: 2) == status)
        let created = try s.bystander.submit([.virtio(.createSemaphore(.init(semaphoreId: 9)))], on: s.bystander.creation)
        try s.bystander.submit([.virtio(.signalSemaphore(.init(semaphoreId: 9)))], on: s.bystander.queue, dependsOn: created)
        #expect(try s.guest.semaphoreSignaled(9, context: 2, reply: 12, replyPage: 3) == true)
        s.guest.model.close()
        #expect(s.guest.model.counts.contexts == 0 && s.guest.model.counts.resources == 0 && s.guest.model.counts.pendingFences == 0)
    }

    private func poke64(_ base: UnsafeMutableRawPointer, _ offset: Int, _ value: UInt64) {
        SharedWords.storeSequential64(base + offset, value)
    }

    @Test func aWriteOffsetPastTheRingFailsTheContext() throws {
        let s = try setUp()
        poke64(s.victim.queueBase, 64, UInt64(GuestRings.ringSize) * 3)
        try s.guest.submit([.virtio(.wakeRings(.init()))], context: 1)
        try expectOnlyTheVictimFailed(s, .invalidArgs)
    }

    @Test func aRecordLengthPastTheWriteOffsetFailsTheContext() throws {
        let s = try setUp()
        let seqno = try s.victim.submit([.virtio(.createSemaphore(.init(semaphoreId: 1)))], on: s.victim.creation)
        #expect(s.victim.applied(seqno, on: s.victim.creation))
        // A record header whose length runs past what was published.
        let body = s.victim.queueBase + RingLayout.headerSize
        body.storeBytes(of: UInt32(4000).littleEndian, as: UInt32.self)
        body.storeBytes(of: UInt64(1).littleEndian, toByteOffset: 8, as: UInt64.self)
        poke64(s.victim.queueBase, 72, 1)
        poke64(s.victim.queueBase, 64, 64)
        try s.guest.submit([.virtio(.wakeRings(.init()))], context: 1)
        try expectOnlyTheVictimFailed(s, .invalidArgs)
    }

    @Test func aDependsOnSeqnoNeverSubmittedFailsTheContext() throws {
        let s = try setUp()
        try s.victim.submit([.virtio(.signalSemaphore(.init(semaphoreId: 1)))], on: s.victim.queue, dependsOn: 99)
        try expectOnlyTheVictimFailed(s, .invalidArgs)
    }

    @Test func aCreationDependingOnAQueueSeqnoNeverSubmittedFailsTheContext() throws {
        let s = try setUp()
        try s.victim.submit([.virtio(.createSemaphore(.init(semaphoreId: 1)))], on: s.victim.creation, dependsOn: 7)
        try expectOnlyTheVictimFailed(s, .invalidArgs)
    }

    /// Queue record 1 needs creation record 1, which needs queue record 1: a cycle the host
    /// finds (the record it would drain for is the one being applied), not a recursion or a hang.
    @Test func recordsThatDependOnEachOtherFailTheContext() throws {
        let s = try setUp()
        #expect(GuestRings.asleep(s.victim.creationBase) && GuestRings.asleep(s.victim.queueBase))
        s.victim.doorbell.muted.store(true, ordering: .releasing)
        try s.victim.submit([.virtio(.signalSemaphore(.init(semaphoreId: 1)))], on: s.victim.queue, dependsOn: 1)
        try s.victim.submit([.virtio(.createSemaphore(.init(semaphoreId: 1)))], on: s.victim.creation, dependsOn: 1)
        try s.guest.submit([.virtio(.wakeRings(.init()))], context: 1)
        try expectOnlyTheVictimFailed(s, .invalidArgs)
    }

    @Test func commandsOnTheWrongRingOrThatNeedAReplyFailTheContext() throws {
        let s = try setUp()
        try s.victim.submit([.virtio(.flush(.init(reply: area(10))))], on: s.victim.queue)
        try expectOnlyTheVictimFailed(s, .invalidArgs)
        let t = try setUp()
        try t.victim.submit([.virtio(.signalSemaphore(.init(semaphoreId: 1)))], on: t.victim.creation)
        try expectOnlyTheVictimFailed(t, .invalidArgs)
    }

    @Test func aRingResourceUnreferencedOrDetachedInUseFailsTheContext() throws {
        let s = try setUp()
        try s.guest.ok(.resourceUnref(resourceId: 20))
        try expectOnlyTheVictimFailed(s, .badState)
        let t = try setUp()
        try t.guest.ok(.resourceDetachBacking(resourceId: 20))
        try expectOnlyTheVictimFailed(t, .badState)
        let u = try setUp()
        try u.guest.ok(.contextDetachResource(resourceId: 20), context: 1)
        try expectOnlyTheVictimFailed(u, .badState)
    }

    @Test func badRingSetupsAreRefusedWithTheContextUsable() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device(), limits: VirtioDeviceLimits(maxRingBytes: 2 * VirtioGuest.page))
        try guest.createContext(1)
        try guest.createResource(10, guestPage: 1, context: 1)
        try guest.createResource(20, guestPage: 8, pages: 4, context: 1)
        try guest.ok(.resourceCreate3D(.buffer(id: 40, size: UInt32(VirtioGuest.page))))   // no backing
        try guest.ok(.contextAttachResource(resourceId: 40), context: 1)
        let region = 2 * VirtioGuest.page
        let base = guest.bytes.baseAddress! + 8 * VirtioGuest.page
        try RingRegion(base: base, length: region).format(ringSize: GuestRings.ringSize)
        func create(_ kind: VirtioRingKind = .queue, resource: UInt32 = 20, offset: Int = 0, size: Int = region) throws -> MagmaStatus? {
            try guest.createRing(kind, context: 1, resource: resource, offset: offset, size: size, reply: 10, replyPage: 1)
        }
        #expect(try create(offset: 4 * VirtioGuest.page - 64) == .invalidArgs)       // outside the resource
        #expect(try create(offset: 4) == .invalidArgs)                                // misaligned
        #expect(try create(size: 64) == .invalidArgs)                                 // smaller than a ring
        #expect(try create(size: 3 * VirtioGuest.page) == .invalidArgs)               // past the limit
        #expect(try create(offset: region) == .invalidArgs)                           // not a formatted ring
        #expect(try create(resource: 40) == .invalidArgs)                             // no backing
        #expect(try create(resource: 77) == .invalidArgs)                             // unknown resource
        #expect(try create() == .ok)
        #expect(try create() == .invalidArgs)                                         // a second queue ring
        // The context is still usable: its queue ring carries commands.
        let rings = try RingProducer(region: RingRegion(base: base, length: region), doorbell: WakeRingsDoorbell(model: guest.model, context: 1))
        try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 4)))], context: 1)
        let payload = try VirtioContextCommand.payload([.virtio(.signalSemaphore(.init(semaphoreId: 4)))])
        let seqno = try payload.withUnsafeBytes { try rings.submit($0) }
        try rings.wait(forCompleted: seqno, timeoutNanoseconds: 20_000_000_000)
        #expect(try guest.semaphoreSignaled(4, context: 1, reply: 10, replyPage: 1) == true)
    }

    @Test func aGuestThatVanishesMidRecordIsCleanedUp() throws {
        let s = try setUp()
        // Half a record: its header and part of its payload written, the write offset not yet moved.
        let body = s.victim.queueBase + RingLayout.headerSize
        body.storeBytes(of: UInt32(48).littleEndian, as: UInt32.self)
        body.storeBytes(of: UInt64(1).littleEndian, toByteOffset: 8, as: UInt64.self)
        s.guest.model.close()
        #expect(completes(s.watch))
        #expect(try s.guest.status(guestPage: 2) == .connectionLost)
        #expect(s.guest.model.counts.contexts == 0 && s.guest.model.counts.resources == 0 && s.guest.model.counts.pendingFences == 0)
    }
}
