import Dispatch

/// A fixed set of threads that run submitted jobs in the order they were submitted (each on
/// whichever thread is free). Jobs may block; the pool never grows, so a server's thread count
/// stays the same however many clients it has.
public final class WorkerPool: Sendable {
    private struct State {
        var jobs: [(@Sendable () -> Void)?] = []
        var head = 0
        var stopped = false
    }

    private let state = Locked(State())
    private let available = DispatchSemaphore(value: 0)
    /// The threads of the pool.
    public let threadCount: Int

    /// A pool of `threadCount` threads (at least one), started by the caller: each runs
    /// `runWorker()`.
    public init(threadCount: Int) { self.threadCount = max(1, threadCount) }

    /// Queues `job`; it runs on a worker thread unless the pool has stopped.
    public func submit(_ job: @escaping @Sendable () -> Void) {
        let accepted = state.withLock { state in
            guard !state.stopped else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { available.signal() }
    }

    /// Runs jobs until `stop()`; called once by each of the pool's threads.
    public func runWorker() {
        while true {
            available.wait()
            let next: (stopped: Bool, job: (@Sendable () -> Void)?) = state.withLock { state in
                if state.stopped { return (true, nil) }
                guard state.head < state.jobs.count else { return (false, nil) }
                let job = state.jobs[state.head]
                state.jobs[state.head] = nil   // released once it has run, not when the queue is compacted
                state.head += 1
                if state.head == state.jobs.count {
                    state.jobs.removeAll(keepingCapacity: true)
                    state.head = 0
                } else if state.head >= 64, state.head * 2 >= state.jobs.count {
                    state.jobs.removeFirst(state.head)
                    state.head = 0
                }
                return (false, job)
            }
            if next.stopped { return }
            next.job?()
        }
    }

    /// Makes every worker return once its current job is done; queued jobs are dropped.
    public func stop() {
        state.withLock { state in
            state.stopped = true
            state.jobs = []
            state.head = 0
        }
        for _ in 0..<threadCount { available.signal() }
    }
}
