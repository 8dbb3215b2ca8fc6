import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtioHost
import MagmaWire
import SoftGPU
import Testing

/// `read_notification` played by hand: a fault's report reaches the guest after the context
/// failed, then the channel's end; and hostile uses: bad reply areas, two reads or a read with a
/// wait in one SUBMIT_3D, a read without a fence, a read of a destroyed context.
@Suite("Driver notifications through read_notification", .hangGuard)
struct NotificationReadTests {
    /// A guest with context 1 and resource 10 (guest page 1) attached to it.
    private func guest() throws -> VirtioGuest {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createResource(10, guestPage: 1, context: 1)
        return guest
    }

    private func read(_ guest: VirtioGuest, offset: UInt32 = 0) throws -> EventSemaphore? {
        try guest.submit([.virtio(.readNotification(.init(reply: GuestReplyArea(resourceId: 10, offset: offset, length: 2048))))],
                         context: 1, fenced: true, ring: 4)
    }

    private func notification(_ guest: VirtioGuest, offset: Int = 0) throws -> VirtioContextProtocol.NotificationReply? {
        guard case .notificationReply(let reply) = try guest.reply(guestPage: 1, offset: offset) else { return nil }
        return reply
    }

    @Test func aFaultsReportArrivesAfterTheFailureThenTheChannelEnds() throws {
        let guest = try guest()
        // Nothing pending: the read waits.
        let first = try read(guest)
        #expect(first?.wait(timeoutNanoseconds: 10_000_000) == false)
        try guest.submit([.primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0))),
                          .primary(.executeCommandAtAddress(.init(contextId: 1, gpuAddress: 0x4000_0000, length: 8, waitSemaphores: [],
                                                                   signalSemaphores: [], flags: 0, waitTimelinePoints: [],
                                                                   signalTimelinePoints: [])))], context: 1)
        #expect(completes(first))
        var reports: [SoftGPUNotification] = []
        var reply = try #require(try notification(guest))
        // Read on (the context has failed) until the channel ends; a bounded number of reads.
        for _ in 0..<16 where reply.status == .ok {
            if let decoded = SoftGPUNotification(bytes: reply.data) { reports.append(decoded) }
            #expect(completes(try read(guest)))
            reply = try #require(try notification(guest))
        }
        #expect(reply.status == .connectionLost && reply.data.isEmpty)
        #expect(reports.contains { if case .fault = $0 { true } else { false } })
        #expect(guest.model.counts.pendingFences == 0)
    }

    @Test func aDestroyedContextEndsItsRead() throws {
        let guest = try guest()
        let pending = try read(guest)
        try guest.ok(.contextDestroy, context: 1)
        #expect(completes(pending))
        #expect(try notification(guest)?.status == .connectionLost)
        #expect(guest.model.counts.pendingFences == 0)
    }

    @Test func aReadNeedsAFence() throws {
        let guest = try guest()
        let payload = try VirtioContextCommand.payload([.virtio(.readNotification(.init(reply: area(10))))])
        #expect(try guest.send(.submit3D(commands: payload), context: 1).response == .error(.errorInvalidParameter))
    }

    @Test func hostileReadsFailTheContextAndWriteNothing() throws {
        let reads: [[VirtioContextCommand]] = [
            [.virtio(.readNotification(.init(reply: GuestReplyArea(resourceId: 99, offset: 0, length: 2048))))],     // no such resource
            [.virtio(.readNotification(.init(reply: GuestReplyArea(resourceId: 10, offset: 4000, length: 2048))))],  // past it
            [.virtio(.readNotification(.init(reply: area(10)))), .virtio(.readNotification(.init(reply: area(10, offset: 512))))],
            [.virtio(.readNotification(.init(reply: area(10)))), .virtio(.watchFailure(.init(reply: area(10, offset: 512))))],
        ]
        for commands in reads {
            let guest = try guest()
            try guest.createResource(11, guestPage: 2, context: 1)
            let watch = try guest.submit([.virtio(.watchFailure(.init(reply: area(11))))], context: 1, fenced: true, ring: 3)
            let fence = try guest.submit(commands, context: 1, fenced: true, ring: 4)
            #expect(completes(watch), "\(commands)")
            #expect(try guest.status(guestPage: 2) == .invalidArgs, "\(commands)")
            // The context's failure ends the fence; the refused read wrote nothing of a notification.
            guest.model.close()
            #expect(completes(fence), "\(commands)")
            #expect((try? notification(guest))?.status != .ok, "\(commands)")
        }
    }

    @Test func anotherContextsReadSeesNothingOfThisOne() throws {
        let guest = try guest()
        try guest.createContext(2)
        try guest.createResource(20, guestPage: 2, context: 2)
        let other = try guest.submit([.virtio(.readNotification(.init(reply: GuestReplyArea(resourceId: 20, offset: 0, length: 2048))))],
                                     context: 2, fenced: true, ring: 4)
        let mine = try read(guest)
        try guest.submit([.primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0))),
                          .primary(.executeCommandAtAddress(.init(contextId: 1, gpuAddress: 0x4000_0000, length: 8, waitSemaphores: [],
                                                                   signalSemaphores: [], flags: 0, waitTimelinePoints: [],
                                                                   signalTimelinePoints: [])))], context: 1)
        #expect(completes(mine))
        #expect(try notification(guest)?.status == .ok)
        #expect(other?.wait(timeoutNanoseconds: 50_000_000) == false)
        try guest.ok(.contextDestroy, context: 2)
        #expect(completes(other))
    }
}

/// `sync_notifications`, the barrier a guest's read with nothing queued sends.
@Suite("The notification barrier", .hangGuard)
struct NotificationSyncTests {
    @Test func aSyncCompletesOnceAReadWaitsOnAnEmptyChannelAndEndsWithIt() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createResource(10, guestPage: 1, context: 1)
        let sync = { () throws -> EventSemaphore? in
            try guest.submit([.virtio(.syncNotifications(.init(reply: area(10, offset: 2048))))], context: 1, fenced: true, ring: 0)
        }
        // No read armed: the sync waits for one.
        let early = try sync()
        #expect(early?.wait(timeoutNanoseconds: 20_000_000) == false)
        let read = try guest.submit([.virtio(.readNotification(.init(reply: GuestReplyArea(resourceId: 10, offset: 0, length: 2048))))],
                                    context: 1, fenced: true, ring: 4)
        #expect(completes(early))
        #expect(try guest.status(guestPage: 1, offset: 2048) == .ok)
        #expect(read?.isSignaled == false)
        // A sync in the same payload as a read fails the context (it travels alone).
        try guest.createResource(11, guestPage: 2, context: 1)
        let watch = try guest.submit([.virtio(.watchFailure(.init(reply: area(11))))], context: 1, fenced: true, ring: 3)
        try guest.submit([.virtio(.readNotification(.init(reply: area(10, offset: 512)))), .virtio(.syncNotifications(.init(reply: area(10, offset: 1024))))],
                         context: 1, fenced: true, ring: 5)
        #expect(completes(watch))
        #expect(try guest.status(guestPage: 2) == .invalidArgs)
        // The failed connection's channel ends: the armed read, then every sync, say so.
        #expect(completes(read))
        #expect(completes(try sync()))
        #expect(try guest.status(guestPage: 1, offset: 2048) == .connectionLost)
        guest.model.close()
        #expect(guest.model.counts.pendingFences == 0)
    }
}
