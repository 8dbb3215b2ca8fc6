import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaRing
import MagmaTestSupport
import MagmaVirtioHost
import MagmaWire
import Testing

@Suite("Context commands on shared-memory command rings", .hangGuard)
struct CommandRingTests {
    /// A guest with context 1, a reply resource 10 at guest page 1 and its rings at page 8.
    private func guestWithRings(limits: VirtioDeviceLimits = VirtioDeviceLimits()) throws -> (VirtioGuest, GuestRings) {
        let guest = try VirtioGuest(device: try VirtioGuest.device(), limits: limits)
        try guest.createContext(1)
        try guest.createResource(10, guestPage: 1, context: 1)
        return (guest, try GuestRings(guest, context: 1, resource: 20, guestPage: 8, replyResource: 10, replyPage: 1))
    }

    @Test func theHostConsumerAppliesRecordsInDependencyOrderWithNoSubmit() throws {
        let (guest, rings) = try guestWithRings()
        let created = try rings.submit([.virtio(.createSemaphore(.init(semaphoreId: 5)))], on: rings.creation)
        let signaled = try rings.submit([.virtio(.signalSemaphore(.init(semaphoreId: 5)))], on: rings.queue, dependsOn: created)
        #expect(rings.applied(signaled, on: rings.queue))
        #expect(rings.applied(created, on: rings.creation))
        #expect(try guest.semaphoreSignaled(5, context: 1, reply: 10, replyPage: 1) == true)
    }

    /// A creation record names the queue seqno it follows, so the host, which drains the
    /// creation ring first, applies the queue records written before it first: an id released
    /// on the queue ring and made again on the creation ring is a new semaphore (had the creation
    /// overtaken the release, the id would still be in use and the context failed).
    @Test func aCreationNeverOvertakesQueueRecordsWrittenBeforeIt() throws {
        let (guest, rings) = try guestWithRings()
        let created = try rings.submit([.virtio(.createSemaphore(.init(semaphoreId: 5)))], on: rings.creation)
        try rings.submit([.virtio(.signalSemaphore(.init(semaphoreId: 5)))], on: rings.queue, dependsOn: created)
        let released = try rings.submit([.primary(.releaseObject(.init(objectId: 5, objectType: .semaphore)))], on: rings.queue, dependsOn: created)
        let again = try rings.submit([.virtio(.createSemaphore(.init(semaphoreId: 5)))], on: rings.creation, dependsOn: released)
        #expect(rings.applied(again, on: rings.creation))
        #expect(try guest.semaphoreSignaled(5, context: 1, reply: 10, replyPage: 1) == false)
    }

    @Test func aFencedSubmitRunsAfterWhatTheRingsHeld() throws {
        // A consumer that never wakes on its own: only the SUBMIT_3D can have drained the rings.
        let (guest, rings) = try guestWithRings(limits: VirtioDeviceLimits(ringSpinNanoseconds: 0))
        #expect(GuestRings.asleep(rings.queueBase))
        for id in UInt64(1)...50 {
            let created = try rings.submit([.virtio(.createSemaphore(.init(semaphoreId: id)))], on: rings.creation)
            try rings.submit([.virtio(.signalSemaphore(.init(semaphoreId: id)))], on: rings.queue, dependsOn: created)
        }
        let wait = try guest.submit([.virtio(.waitSemaphores(.init(semaphoreIds: Array(1...50), waitAll: true, reply: area(10))))],
                                    context: 1, fenced: true, ring: 1)
        #expect(completes(wait))
        #expect(try guest.status(guestPage: 1) == .ok)
    }

    /// The rings a SUBMIT_3D drains first are unfenced records: their work is no part of its
    /// fence. (It was: a call's fence then waited for ring work queued behind a semaphore the
    /// guest would signal only after the call returned, and the guest hung in flush.)
    @Test func aFencedCallDoesNotWaitForTheRingWorkItDrained() throws {
        let (guest, rings) = try guestWithRings(limits: VirtioDeviceLimits(ringSpinNanoseconds: 0))
        let created = try rings.submit([.virtio(.createSemaphore(.init(semaphoreId: 1))), .virtio(.createSemaphore(.init(semaphoreId: 2))),
                                        .primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0)))], on: rings.creation)
        #expect(rings.applied(created, on: rings.creation))
        let deadline = Clock.monotonicNanoseconds() + 10_000_000_000
        while !(GuestRings.asleep(rings.creationBase) && GuestRings.asleep(rings.queueBase)) && Clock.monotonicNanoseconds() < deadline { usleep(1_000) }
        rings.doorbell.muted.store(true, ordering: .releasing)
        try rings.submit([.primary(.executeCommand(.init(contextId: 1, resources: [], commandBuffers: [], waitSemaphores: [1],
                                                         signalSemaphores: [2], flags: 0, waitTimelinePoints: [], signalTimelinePoints: [])))],
                         on: rings.queue, dependsOn: created)
        // The call drains the rings; the work waits for semaphore 1, which nothing has signaled.
        let call = try guest.submit([.virtio(.getSemaphoreState(.init(semaphoreId: 2, reply: area(10))))], context: 1, fenced: true, ring: 0)
        #expect(completes(call, within: 10))
        rings.doorbell.muted.store(false, ordering: .releasing)
        try rings.submit([.virtio(.signalSemaphore(.init(semaphoreId: 1)))], on: rings.queue, dependsOn: created)
        let wait = try guest.submit([.virtio(.waitSemaphores(.init(semaphoreIds: [2], waitAll: true, reply: area(10))))],
                                    context: 1, fenced: true, ring: 1)
        #expect(completes(wait))
    }

    @Test func aSleepingHostIsPingedOnceAndAnAwakeOneNever() throws {
        let (guest, rings) = try guestWithRings(limits: VirtioDeviceLimits(ringSpinNanoseconds: 1_000))
        #expect(GuestRings.asleep(rings.creationBase) && GuestRings.asleep(rings.queueBase))
        #expect(rings.doorbell.pings == 0)
        let created = try rings.submit([.virtio(.createSemaphore(.init(semaphoreId: 7)))], on: rings.creation)
        #expect(rings.doorbell.pings == 1)
        #expect(rings.applied(created, on: rings.creation))
        #expect(try guest.semaphoreSignaled(7, context: 1, reply: 10, replyPage: 1) == false)

        // A host that spins "forever" never sleeps, so a stream of records rings nothing.
        let (_, awake) = try guestWithRings(limits: VirtioDeviceLimits(ringSpinNanoseconds: .max))
        var last: UInt64 = 0
        for id in UInt64(1)...2_000 { last = try awake.submit([.virtio(.createSemaphore(.init(semaphoreId: id)))], on: awake.creation) }
        #expect(awake.applied(last, on: awake.creation))
        #expect(awake.doorbell.pings == 0)
    }

    @Test func gpuWorkOnTheQueueRingCompletesForAFencedWaiter() throws {
        let (guest, rings) = try guestWithRings()
        let created = try rings.submit([.virtio(.createSemaphore(.init(semaphoreId: 3))), .primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0)))],
                                       on: rings.creation)
        // Work with no command buffers still signals its semaphores when it completes.
        try rings.submit([.primary(.executeCommand(.init(contextId: 1, resources: [], commandBuffers: [], waitSemaphores: [],
                                                         signalSemaphores: [3], flags: 0, waitTimelinePoints: [], signalTimelinePoints: [])))],
                         on: rings.queue, dependsOn: created)
        let wait = try guest.submit([.virtio(.waitSemaphores(.init(semaphoreIds: [3], waitAll: true, reply: area(10))))],
                                    context: 1, fenced: true, ring: 1)
        #expect(completes(wait))
        #expect(try guest.status(guestPage: 1) == .ok)
    }
}
