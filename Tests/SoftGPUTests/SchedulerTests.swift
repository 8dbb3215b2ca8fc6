@testable import SoftGPU
import MagmaTestSupport
import Testing

/// The engine's scheduler on its own: strict priority, round-robin over clients and then over a
/// client's queues, FIFO within a queue, and a cost per job that does not grow with the number
/// of queues or clients.
@Suite(.hangGuard) struct SchedulerTests {
    private typealias Jobs = Scheduler<String>

    /// Queues `job` on an open queue.
    private func add(_ scheduler: inout Jobs, _ job: String, _ queue: Jobs.Queue) {
        let queued = scheduler.append(job, to: queue)
        #expect(queued)
    }

    /// Takes every job, in order.
    private func drain(_ scheduler: inout Jobs) -> [String] {
        var order: [String] = []
        while let next = scheduler.next() { order.append(next.job) }
        return order
    }

    @Test func higherPrioritiesGoFirstAndAQueueKeepsItsOrder() {
        var scheduler = Jobs()
        let client = Jobs.Client()
        let low = scheduler.makeQueue(for: client, priority: 128)
        let high = scheduler.makeQueue(for: client, priority: 512)
        for job in ["low1", "low2"] { add(&scheduler, job, low) }
        for job in ["high1", "high2"] { add(&scheduler, job, high) }
        #expect(scheduler.highestWaitingPriority == 512)
        #expect(drain(&scheduler) == ["high1", "high2", "low1", "low2"])
        #expect(scheduler.highestWaitingPriority == nil)
    }

    @Test func clientsTakeTurnsWhateverTheirNumberOfQueues() {
        var scheduler = Jobs()
        let crowd = Jobs.Client(), bystander = Jobs.Client()
        let queues = (0..<8).map { _ in scheduler.makeQueue(for: crowd, priority: 256) }
        for (index, queue) in queues.enumerated() {
            for job in 0..<4 { add(&scheduler, "crowd\(index).\(job)", queue) }
        }
        let alone = scheduler.makeQueue(for: bystander, priority: 256)
        for job in 0..<4 { add(&scheduler, "bystander\(job)", alone) }
        let order = drain(&scheduler)
        #expect(order.count == 36)
        // Every other job is the bystander's while it has work.
        #expect(order.indices.filter { order[$0].hasPrefix("bystander") } == [1, 3, 5, 7])
        // The crowd's queues take turns among themselves: the first eight crowd jobs come from
        // eight different queues, each queue's jobs in order.
        let crowdJobs = order.filter { $0.hasPrefix("crowd") }
        #expect(Set(crowdJobs.prefix(8).map { $0.prefix(6) }).count == 8)
        for index in 0..<8 {
            #expect(crowdJobs.filter { $0.hasPrefix("crowd\(index).") } == (0..<4).map { "crowd\(index).\($0)" })
        }
    }

    @Test func preemptedWorkResumesFirstInItsQueueButBehindTheOthers() {
        var scheduler = Jobs()
        let first = Jobs.Client(), second = Jobs.Client()
        let a = scheduler.makeQueue(for: first, priority: 256)
        let b = scheduler.makeQueue(for: second, priority: 256)
        add(&scheduler, "a1", a)
        add(&scheduler, "a2", a)
        add(&scheduler, "b1", b)
        let running = scheduler.next()
        #expect(running?.job == "a1")
        let requeued = scheduler.prepend("a1", to: a)   // preempted
        #expect(requeued)
        #expect(drain(&scheduler) == ["b1", "a1", "a2"])
    }

    @Test func aClosedQueueGivesBackItsJobsAndTakesNoMore() {
        var scheduler = Jobs()
        let client = Jobs.Client(), other = Jobs.Client()
        let closing = scheduler.makeQueue(for: client, priority: 1024)
        let staying = scheduler.makeQueue(for: other, priority: 256)
        for job in ["x1", "x2"] { add(&scheduler, job, closing) }
        add(&scheduler, "y1", staying)
        let dropped = scheduler.close(closing)
        #expect(dropped == ["x1", "x2"])
        #expect(scheduler.highestWaitingPriority == 256)
        let appended = scheduler.append("x3", to: closing)
        let prepended = scheduler.prepend("x0", to: closing)
        let droppedAgain = scheduler.close(closing)
        #expect(!appended && !prepended && droppedAgain.isEmpty)
        #expect(drain(&scheduler) == ["y1"])
        // The client can open queues at that priority again.
        let reopened = scheduler.makeQueue(for: client, priority: 1024)
        add(&scheduler, "z1", reopened)
        #expect(drain(&scheduler) == ["z1"])
    }

    @Test(arguments: [true, false])
    func twentyThousandQueuesCostTheSameForEveryJob(oneClient: Bool) {
        // One small job on each of 20,000 queues (of one client, or of 20,000 clients): queuing
        // and taking each job costs a bounded number of steps, not a scan of the queues.
        var scheduler = Jobs()
        let shared = Jobs.Client()
        let count = 20_000
        let queues = (0..<count).map { _ in scheduler.makeQueue(for: oneClient ? shared : Jobs.Client(), priority: 256) }
        let before = scheduler.steps
        for (index, queue) in queues.enumerated() { add(&scheduler, "job\(index)", queue) }
        var taken = 0
        var worst = 0
        while true {
            let steps = scheduler.steps
            guard scheduler.next() != nil else { break }
            worst = max(worst, scheduler.steps - steps)
            taken += 1
        }
        #expect(taken == count)
        #expect(worst <= 4, "steps to take one job")
        #expect(scheduler.steps - before <= 8 * count)
    }

    @Test func manyPrioritiesCostLogarithmicSteps() {
        // 256 priorities (what an untrusted client may use is 0...256): each job's cost grows
        // with the log of the number of priorities waiting.
        var scheduler = Jobs()
        let client = Jobs.Client()
        let queues = (0..<256).map { scheduler.makeQueue(for: client, priority: UInt64($0)) }
        for round in 0..<4 {
            for (index, queue) in queues.enumerated() { add(&scheduler, "\(index).\(round)", queue) }
        }
        var worst = 0
        var previous = UInt64.max
        var inOrder = true
        while true {
            let steps = scheduler.steps
            guard let next = scheduler.next() else { break }
            worst = max(worst, scheduler.steps - steps)
            inOrder = inOrder && next.queue.priority <= previous
            previous = next.queue.priority
        }
        #expect(inOrder, "strict priority")
        #expect(worst <= 2 * 9 + 4, "steps to take one job")
    }
}
