import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtioHost
import MagmaWire
import Testing

/// The timeline commands of a context (create_timeline, signal_timeline, get_timeline_state,
/// wait_timeline, cancel_timeline_wait, release_object of a timeline) played by hand, and
/// hostile uses of them: unknown ids, another context's timelines, bad reply areas.
@Suite("Timeline semaphores through context commands", .hangGuard)
struct TimelineCommandTests {
    /// A guest with contexts 1 and 2, resources 10 (guest page 1) and 20 (page 2) attached to them.
    private func twoContexts() throws -> VirtioGuest {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createContext(2)
        try guest.createResource(10, guestPage: 1, context: 1)
        try guest.createResource(20, guestPage: 2, context: 2)
        return guest
    }

    private func state(_ guest: VirtioGuest, guestPage: Int, offset: Int = 0) throws -> VirtioContextProtocol.TimelineStateReply? {
        guard case .timelineStateReply(let reply) = try guest.reply(guestPage: guestPage, offset: offset) else { return nil }
        return reply
    }

    @Test func signalStateAndWaitsForPoints() throws {
        let guest = try twoContexts()
        try guest.submit([.virtio(.createTimeline(.init(timelineId: 5, initialValue: 2)))], context: 1)
        // A wait for a passed point completes at once; one for a future point once it is signaled.
        let passed = try guest.submit([.virtio(.waitTimeline(.init(timelineId: 5, point: 2, waitId: 1, reply: area(10))))],
                                      context: 1, fenced: true, ring: 1)
        #expect(completes(passed))
        #expect(try guest.status(guestPage: 1) == .ok)
        let future = try guest.submit([.virtio(.waitTimeline(.init(timelineId: 5, point: 4, waitId: 2, reply: area(10, offset: 512))))],
                                      context: 1, fenced: true, ring: 2)
        #expect(completes(try guest.submit([.virtio(.signalTimeline(.init(timelineId: 5, point: 3, reply: area(10, offset: 1024))))],
                                           context: 1, fenced: true, ring: 0)))
        #expect(try guest.status(guestPage: 1, offset: 1024) == .ok)
        #expect(future?.isSignaled == false)
        // A point not above the value is the call's refusal: the context stays usable.
        #expect(completes(try guest.submit([.virtio(.signalTimeline(.init(timelineId: 5, point: 3, reply: area(10, offset: 1024))))],
                                           context: 1, fenced: true, ring: 0)))
        #expect(try guest.status(guestPage: 1, offset: 1024) == .invalidArgs)
        #expect(completes(try guest.submit([.virtio(.signalTimeline(.init(timelineId: 5, point: 9, reply: area(10, offset: 1024))))],
                                           context: 1, fenced: true, ring: 0)))
        #expect(completes(future))
        #expect(try guest.status(guestPage: 1, offset: 512) == .ok)
        #expect(completes(try guest.submit([.virtio(.getTimelineState(.init(timelineId: 5, reply: area(10, offset: 1536))))],
                                           context: 1, fenced: true, ring: 0)))
        let reply = try #require(try state(guest, guestPage: 1, offset: 1536))
        #expect(reply.status == .ok && reply.value == 9 && reply.failure == .ok)
    }

    @Test func aCancelledOrReleasedWaitEndsWithBadStateAndFreesItsRing() throws {
        let guest = try twoContexts()
        try guest.submit([.virtio(.createTimeline(.init(timelineId: 5, initialValue: 0)))], context: 1)
        let cancelled = try guest.submit([.virtio(.waitTimeline(.init(timelineId: 5, point: 1, waitId: 1, reply: area(10))))],
                                         context: 1, fenced: true, ring: 1)
        // A later fence on the same ring completes once the cancelled wait has.
        try guest.submit([.virtio(.cancelTimelineWait(.init(waitId: 1))), .virtio(.cancelTimelineWait(.init(waitId: 77)))], context: 1)
        let next = try guest.submit([.virtio(.flush(.init(reply: area(10, offset: 512))))], context: 1, fenced: true, ring: 1)
        #expect(completes(cancelled) && completes(next))
        #expect(try guest.status(guestPage: 1) == .badState)
        let released = try guest.submit([.virtio(.waitTimeline(.init(timelineId: 5, point: 1, waitId: 2, reply: area(10, offset: 1024))))],
                                        context: 1, fenced: true, ring: 2)
        try guest.submit([.primary(.releaseObject(.init(objectId: 5, objectType: .timeline)))], context: 1)
        #expect(completes(released))
        #expect(try guest.status(guestPage: 1, offset: 1024) == .badState)
        // The context is healthy: an unknown cancel id is no error.
        #expect(completes(try guest.submit([.virtio(.flush(.init(reply: area(10, offset: 512))))], context: 1, fenced: true, ring: 0)))
        #expect(try guest.status(guestPage: 1, offset: 512) == .ok)
        #expect(guest.model.counts.pendingFences == 0)
    }

    @Test func unknownAndUsedIdsFailTheContextAndItsWaits() throws {
        for bad: VirtioContextProtocol.ClientMessage in [
            .signalTimeline(.init(timelineId: 9, point: 1, reply: area(10, offset: 1024))),
            .getTimelineState(.init(timelineId: 9, reply: area(10, offset: 1024))),
            .createTimeline(.init(timelineId: 5, initialValue: 0)),
            .createTimeline(.init(timelineId: 0, initialValue: 0)),
        ] {
            let guest = try twoContexts()
            try guest.submit([.virtio(.createTimeline(.init(timelineId: 5, initialValue: 0)))], context: 1)
            let wait = try guest.submit([.virtio(.waitTimeline(.init(timelineId: 5, point: 1, waitId: 1, reply: area(10))))],
                                        context: 1, fenced: true, ring: 1)
            try guest.submit([.virtio(bad)], context: 1)
            // The failure ends the pending wait with the context's error.
            #expect(completes(wait), "\(bad)")
            #expect(try guest.status(guestPage: 1) == .invalidArgs, "\(bad)")
            // Later timeline calls are answered with it.
            #expect(completes(try guest.submit([.virtio(.getTimelineState(.init(timelineId: 5, reply: area(10, offset: 1536))))],
                                               context: 1, fenced: true, ring: 0)))
            #expect(try state(guest, guestPage: 1, offset: 1536)?.status == .invalidArgs)
        }
    }

    @Test func aContextCannotNameAnotherContextsTimeline() throws {
        let guest = try twoContexts()
        try guest.submit([.virtio(.createTimeline(.init(timelineId: 5, initialValue: 0)))], context: 1)
        let watch = try guest.submit([.virtio(.watchFailure(.init(reply: area(20))))], context: 2, fenced: true, ring: 3)
        // Context 2 has no timeline 5: signaling it fails context 2 and leaves context 1's alone.
        try guest.submit([.virtio(.signalTimeline(.init(timelineId: 5, point: 1, reply: area(20, offset: 512))))], context: 2)
        #expect(completes(watch))
        #expect(try guest.status(guestPage: 2) == .invalidArgs)
        // Naming it in work's timeline points fails the context too.
        try guest.submit([.primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0)))], context: 1)
        #expect(completes(try guest.submit([.virtio(.getTimelineState(.init(timelineId: 5, reply: area(10))))],
                                           context: 1, fenced: true, ring: 0)))
        #expect(try state(guest, guestPage: 1)?.value == 0)
        let watchOne = try guest.submit([.virtio(.watchFailure(.init(reply: area(10, offset: 512))))], context: 1, fenced: true, ring: 3)
        try guest.submit([.primary(.executeCommand(.init(contextId: 1, resources: [], commandBuffers: [], waitSemaphores: [],
                                                         signalSemaphores: [], flags: 0, waitTimelinePoints: [],
                                                         signalTimelinePoints: [TimelinePoint(timelineId: 6, value: 1)])))],
                         context: 1)
        #expect(completes(watchOne))
        #expect(try guest.status(guestPage: 1, offset: 512) == .invalidArgs)
    }

    @Test func badReplyAreasFailTheContextAndWriteNothing() throws {
        for reply in [GuestReplyArea(resourceId: 20, offset: 0, length: 512),          // another context's resource
                      GuestReplyArea(resourceId: 10, offset: 4000, length: 512),       // past the resource
                      GuestReplyArea(resourceId: 10, offset: 0, length: 8),            // too small for the reply
                      GuestReplyArea(resourceId: 99, offset: 0, length: 512)] {        // no such resource
            for command: VirtioContextProtocol.ClientMessage in [
                .signalTimeline(.init(timelineId: 5, point: 1, reply: reply)),
                .getTimelineState(.init(timelineId: 5, reply: reply)),
                .waitTimeline(.init(timelineId: 5, point: 0, waitId: 1, reply: reply)),
            ] {
                let guest = try twoContexts()
                try guest.submit([.virtio(.createTimeline(.init(timelineId: 5, initialValue: 0)))], context: 1)
                try guest.createResource(11, guestPage: 3, context: 1)
                let watch = try guest.submit([.virtio(.watchFailure(.init(reply: area(11))))], context: 1, fenced: true, ring: 3)
                try guest.submit([.virtio(command)], context: 1, fenced: true, ring: 1)
                #expect(completes(watch), "\(command)")
                #expect(try guest.status(guestPage: 3) == .invalidArgs, "\(command)")
                #expect(guest.bytes[VirtioGuest.page..<(3 * VirtioGuest.page)].allSatisfy { $0 == 0 }, "\(command)")
            }
        }
    }

    @Test func aWaitNeedsAFence() throws {
        let guest = try twoContexts()
        try guest.submit([.virtio(.createTimeline(.init(timelineId: 5, initialValue: 0)))], context: 1)
        let payload = try VirtioContextCommand.payload([.virtio(.waitTimeline(.init(timelineId: 5, point: 1, waitId: 1, reply: area(10))))])
        #expect(try guest.send(.submit3D(commands: payload), context: 1).response == .error(.errorInvalidParameter))
    }

    @Test func workThatFaultsFailsTheTimelineItWasToSignal() throws {
        let guest = try twoContexts()
        try guest.submit([.virtio(.createTimeline(.init(timelineId: 5, initialValue: 0))),
                          .primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0)))], context: 1)
        let wait = try guest.submit([.virtio(.waitTimeline(.init(timelineId: 5, point: 1, waitId: 1, reply: area(10))))],
                                    context: 1, fenced: true, ring: 1)
        // A stream at an address nothing is mapped at faults.
        try guest.submit([.primary(.executeCommandAtAddress(.init(contextId: 1, gpuAddress: 0x4000_0000, length: 8, waitSemaphores: [],
                                                                   signalSemaphores: [], flags: 0, waitTimelinePoints: [],
                                                                   signalTimelinePoints: [TimelinePoint(timelineId: 5, value: 1)])))],
                         context: 1)
        #expect(completes(wait))
        #expect(try guest.status(guestPage: 1) == .contextKilled)
    }
}
