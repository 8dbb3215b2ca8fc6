import Dispatch
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import Synchronization

/// The SoftGPU engine: one queue of work per context and a scheduler that runs one piece of
/// work at a time on all compute threads.
///
/// - The highest priority runs first (strict priority). Among equal priorities, connections
///   take turns (round-robin over the connections with work waiting, whatever their number of
///   contexts), and within a connection its contexts take turns; a context runs its work in
///   order. See `Scheduler`.
/// - Time slicing: work runs until it is done, or until its slice (`timeSliceNanoseconds`) has
///   passed while other work of the same priority waits; then it is preempted and waits for its
///   next turn.
/// - Work of a higher priority preempts running work as soon as it is queued.
/// - Preemption happens at an instruction boundary (a dispatch), between 64 KiB chunks (a fill
///   or copy) or between commands; the work resumes where it stopped.
/// - The watchdog counts only the time the work itself has run, over all its slices.
/// - Work of a destroyed context or a closed connection stops at its next check, like a
///   preemption, and completes with CONTEXT_KILLED.
final class Engine: Sendable {
    /// A client of the scheduler: one per connection.
    typealias Client = Scheduler<Job>.Client
    /// A queue of the scheduler: one per context.
    typealias Queue = Scheduler<Job>.Queue

    /// One piece of work and how far it has run.
    final class Job: @unchecked Sendable {
        let context: SoftGPUContext
        let work: GpuWork
        /// Per-connection sequence number, reported in notifications.
        let sequence: UInt64
        var execution: WorkExecution
        var ranNanoseconds: UInt64 = 0

        init(context: SoftGPUContext, work: GpuWork, sequence: UInt64) {
            self.context = context
            self.work = work
            self.sequence = sequence
            execution = WorkExecution(work.payload, runsDispatches: context.runsDispatches)
        }
    }

    private struct State {
        var scheduler = Scheduler<Job>()
        var running = false
    }

    /// The engine's busy time: finished slices, plus the running one; and what all work has
    /// executed (one lock for both: a slice's end updates them together).
    private struct BusyTime {
        var finished: UInt64 = 0
        var runningSince: UInt64?
        var counters = ExecutionCounters()

        func total(now: UInt64) -> UInt64 { finished + (runningSince.map { now - $0 } ?? 0) }
    }

    let configuration: SoftGPUConfiguration
    private let state = Locked(State())
    private let executor = DispatchQueue(label: "softgpu.engine")
    private let busy = Locked(BusyTime())
    /// The highest priority with work waiting plus one; 0 when nothing waits.
    private let waitingPriority = Atomic<UInt64>(0)

    init(configuration: SoftGPUConfiguration) {
        self.configuration = configuration
    }

    /// Nanoseconds the engine has spent executing work, including the slice running now. The
    /// clock is read under the lock, as at a slice's start and end, so the value never goes back.
    var busyNanoseconds: UInt64 { busy.withLock { $0.total(now: Clock.monotonicNanoseconds()) } }

    /// What all work has executed so far.
    var counters: ExecutionCounters { busy.withLock { $0.counters } }

    /// Opens the queue of a new context of `client` at `priority`.
    func makeQueue(for client: Client, priority: Priority) -> Queue {
        state.withLock { $0.scheduler.makeQueue(for: client, priority: priority.rawValue) }
    }

    /// Queues work for a context. Work for a destroyed context completes with CONTEXT_KILLED.
    func enqueue(_ work: GpuWork, context: SoftGPUContext, sequence: UInt64) {
        let job = Job(context: context, work: work, sequence: sequence)
        let (queued, start) = state.withLock { state in
            guard state.scheduler.append(job, to: context.queue) else { return (false, false) }
            publishWaiting(state)
            if state.running { return (true, false) }
            state.running = true
            return (true, true)
        }
        if !queued { executor.async { work.finish(.contextKilled) } }
        if start { executor.async { self.drain() } }
    }

    /// Closes a context's queue and drops its queued work, which completes with CONTEXT_KILLED
    /// from the engine thread. Its running work stops at its next check (`execute`).
    func remove(_ context: SoftGPUContext) {
        let dropped: [Job] = state.withLock { state in
            defer { publishWaiting(state) }
            return state.scheduler.close(context.queue)
        }
        guard !dropped.isEmpty else { return }
        executor.async { dropped.forEach { $0.work.finish(.contextKilled) } }
    }

    /// Completes work that never reached a queue (dropped while it waited for semaphores) with
    /// CONTEXT_KILLED, from the engine thread.
    func abandon(_ works: [GpuWork]) {
        guard !works.isEmpty else { return }
        executor.async { works.forEach { $0.finish(.contextKilled) } }
    }

    /// Publishes the best waiting priority for the running work's preemption checks.
    private func publishWaiting(_ state: State) {
        let best = state.scheduler.highestWaitingPriority
        waitingPriority.store(best.map { $0 == .max ? .max : $0 + 1 } ?? 0, ordering: .relaxed)
    }

    /// Takes the next job off the scheduler, or marks the engine idle.
    private func nextJob() -> Job? {
        state.withLock { state in
            guard let next = state.scheduler.next() else {
                state.running = false
                return nil
            }
            publishWaiting(state)
            return next.job
        }
    }

    /// Puts preempted work back at the head of its context's queue; its context and connection
    /// wait for their next turn. False if the context has been destroyed meanwhile.
    private func requeue(_ job: Job) -> Bool {
        state.withLock { state in
            defer { publishWaiting(state) }
            return state.scheduler.prepend(job, to: job.context.queue)
        }
    }

    private func drain() {
        while let job = nextJob() { execute(job) }
    }

    /// Runs one slice of a job; completes it, or requeues it when preempted.
    private func execute(_ job: Job) {
        let context = job.context, connection = context.connection
        guard connection.isLive, !context.isDestroyed else {
            job.work.finish(.contextKilled)
            return
        }
        if case .bind(let operations) = job.work.payload { return applyBind(operations, of: job) }
        let started = busy.withLock { busy in
            let now = Clock.monotonicNanoseconds()
            busy.runningSince = now
            return now
        }
        let sliceEnd = started &+ configuration.timeSliceNanoseconds
        let priority = job.context.priority.rawValue
        var slice = WorkExecution.Slice(
            space: connection.space, computeThreads: configuration.computeThreads,
            watchdog: Watchdog(limitNanoseconds: configuration.watchdogNanoseconds, usedNanoseconds: job.ranNanoseconds),
            shouldYield: { [self] in
                // Work nobody waits for any more stops as if preempted.
                if !connection.isLive || context.isDestroyed { return true }
                let best = waitingPriority.load(ordering: .relaxed)
                guard best != 0 else { return false }
                return best - 1 > priority || (best - 1 == priority && Clock.monotonicNanoseconds() >= sliceEnd)
            })
        let outcome: Result<Bool, ExecutionFault>
        do throws(ExecutionFault) {
            outcome = .success(try job.execution.run(&slice))
        } catch {
            outcome = .failure(error)
        }
        let elapsed = busy.withLock { busy in
            let elapsed = Clock.monotonicNanoseconds() - started
            busy.finished += elapsed
            busy.runningSince = nil
            busy.counters += slice.counters
            return elapsed
        }
        job.ranNanoseconds += elapsed
        switch outcome {
        case .success(false):
            if !connection.isLive || !requeue(job) { job.work.finish(.contextKilled) }
        case .success(true):
            // Notify before completing, so a client woken by a signal semaphore finds the
            // notification already queued.
            connection.notify(.completed(sequence: job.sequence, status: MagmaStatus.ok.rawValue, gpuNanoseconds: job.ranNanoseconds))
            // Complete before signaling: a client woken by a signal semaphore may release what
            // the work used.
            job.work.finish(.ok)
        case .failure(let fault):
            job.work.failSignalTimelines(.contextKilled)
            connection.fault(fault, sequence: job.sequence)
            job.work.finish(.contextKilled)
        }
    }
}
