import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtioHost
import MagmaWire
import SoftGPU
import Testing

/// The host's preemption of waits (docs/virtio.md): a fence done ends every earlier wait of its
/// timeline with `preempted_reply`, on a ring's timeline and on the device's global timeline
/// (no ring index: a guest kernel without CONTEXT_INIT), across contexts; a re-submitted wait
/// is pending again and ends with its real outcome; fences of GPU work are never preempted.
@Suite("Waits are preempted by a later fence of their timeline", .hangGuard)
struct PreemptionTests {
    /// A guest with contexts 1 and 2, resources 10 (guest page 1) and 20 (page 2) attached to them.
    private func guest() throws -> VirtioGuest {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createContext(2)
        try guest.createResource(10, guestPage: 1, context: 1)
        try guest.createResource(20, guestPage: 2, context: 2)
        try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 5))), .virtio(.createSemaphore(.init(semaphoreId: 6)))], context: 1)
        return guest
    }

    private func wait(_ guest: VirtioGuest, _ semaphore: UInt64, offset: UInt32 = 0, ring: UInt8?) throws -> EventSemaphore? {
        try guest.submit([.virtio(.waitSemaphores(.init(semaphoreIds: [semaphore], waitAll: true, reply: area(10, offset: offset))))],
                         context: 1, fenced: true, ring: ring)
    }

    @Test func aLaterFenceOnTheRingPreemptsAWaitWhichResubmittedEndsWithItsOutcome() throws {
        let guest = try guest()
        let pending = try wait(guest, 5, ring: 0)
        #expect(pending?.wait(timeoutNanoseconds: 10_000_000) == false)
        let flush = try guest.submit([.virtio(.flush(.init(reply: area(10, offset: 512))))], context: 1, fenced: true, ring: 0)
        #expect(completes(flush))
        #expect(completes(pending))
        #expect(try guest.reply(guestPage: 1) == .preemptedReply(.init()))
        #expect(try guest.status(guestPage: 1, offset: 512) == .ok)
        // Submitted again, the wait is pending again (nothing else is done), then ends with ok.
        let again = try wait(guest, 5, ring: 0)
        #expect(again?.wait(timeoutNanoseconds: 10_000_000) == false)
        try guest.submit([.virtio(.signalSemaphore(.init(semaphoreId: 5)))], context: 1)
        #expect(completes(again))
        #expect(try guest.status(guestPage: 1) == .ok)
        #expect(guest.model.counts.pendingFences == 0)
    }

    @Test func onTheGlobalTimelineAnotherContextsCallPreemptsAWait() throws {
        let guest = try guest()
        let pending = try wait(guest, 5, ring: nil)
        let failureWatch = try guest.submit([.virtio(.watchFailure(.init(reply: area(20))))], context: 2, fenced: true)
        let call = try guest.submit([.virtio(.flush(.init(reply: area(20, offset: 512))))], context: 2, fenced: true)
        #expect(completes(call))
        #expect(completes(pending) && completes(failureWatch))
        #expect(try guest.reply(guestPage: 1) == .preemptedReply(.init()))
        #expect(try guest.reply(guestPage: 2) == .preemptedReply(.init()))
        // A ring's timeline is another: its fences neither preempt nor are preempted by the global one.
        let ringWait = try wait(guest, 6, offset: 1024, ring: 3)
        #expect(completes(try guest.submit([], context: 1, fenced: true)))
        #expect(ringWait?.wait(timeoutNanoseconds: 10_000_000) == false)
        try guest.submit([.virtio(.signalSemaphore(.init(semaphoreId: 6)))], context: 1)
        #expect(completes(ringWait))
        #expect(try guest.status(guestPage: 1, offset: 1024) == .ok)
    }

    @Test func aSatisfiedLaterWaitPreemptsTheWaitBeforeIt() throws {
        let guest = try guest()
        let first = try wait(guest, 5, ring: 2)
        let second = try wait(guest, 6, offset: 512, ring: 2)
        try guest.submit([.virtio(.signalSemaphore(.init(semaphoreId: 6)))], context: 1)
        #expect(completes(second) && completes(first))
        #expect(try guest.status(guestPage: 1, offset: 512) == .ok)
        #expect(try guest.reply(guestPage: 1) == .preemptedReply(.init()))
    }

    @Test func aPreemptedReadTakesNoNotificationAndASyncIsPreemptedToo() throws {
        let guest = try guest()
        let readArea = GuestReplyArea(resourceId: 10, offset: 0, length: 2048)
        let read = try guest.submit([.virtio(.readNotification(.init(reply: readArea)))], context: 1, fenced: true)
        #expect(completes(try guest.submit([], context: 2, fenced: true)))
        #expect(completes(read))
        #expect(try guest.reply(guestPage: 1) == .preemptedReply(.init()))
        // A fault's report goes to the read submitted again, not to the preempted one.
        let again = try guest.submit([.virtio(.readNotification(.init(reply: readArea)))], context: 1, fenced: true)
        try guest.submit([.primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0))),
                          .primary(.executeCommandAtAddress(.init(contextId: 1, gpuAddress: 0x4000_0000, length: 8, waitSemaphores: [],
                                                                   signalSemaphores: [], flags: 0, waitTimelinePoints: [],
                                                                   signalTimelinePoints: [])))], context: 1)
        #expect(completes(again))
        guard case .notificationReply(let reply) = try guest.reply(guestPage: 1) else { Issue.record("no notification reply"); return }
        #expect(reply.status == .ok && !reply.data.isEmpty)
    }

    @Test func aFenceOfGPUWorkIsNeverPreempted() throws {
        let guest = try guest()
        // Work waiting (on the GPU) for semaphore 5: its fence waits for the work, and holds the
        // later fences of its timeline, which a CPU signal then releases in order.
        let work = try guest.submit([.primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0))),
                                     .primary(.executeCommandAtAddress(.init(contextId: 1, gpuAddress: 0x4000_0000, length: 8, waitSemaphores: [5],
                                                                              signalSemaphores: [], flags: 0, waitTimelinePoints: [],
                                                                              signalTimelinePoints: [])))], context: 1, fenced: true)
        let later = try guest.submit([.virtio(.flush(.init(reply: area(20, offset: 512))))], context: 2, fenced: true)
        #expect(work?.wait(timeoutNanoseconds: 50_000_000) == false)
        #expect(later?.isSignaled == false)
        try guest.submit([.virtio(.signalSemaphore(.init(semaphoreId: 5)))], context: 1)
        #expect(completes(work) && completes(later))
    }
}
