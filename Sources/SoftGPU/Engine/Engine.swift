import Dispatch
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import Synchronization

/// The SoftGPU engine: one queue of work per context and a scheduler that runs one piece of
/// work at a time on all compute threads.
///
/// - The highest priority runs first. Among equal priorities, the oldest submission runs first
///   (FIFO), and work that was preempted goes behind the other contexts' waiting work.
/// - Time slicing: work runs until it is done, or until its slice (`timeSliceNanoseconds`) has
///   passed while another context's work of the same priority waits; then it is preempted.
/// - Work of a higher priority preempts running work as soon as it is queued.
/// - Preemption happens at an instruction boundary (a dispatch), between 64 KiB chunks (a fill
///   or copy) or between commands; the work resumes where it stopped.
/// - The watchdog counts only the time the work itself has run.
final class Engine: Sendable {
    private final class Job: @unchecked Sendable {
        let context: SoftGPUContext
        let work: GpuWork
        /// Per-connection sequence number, reported in notifications.
        let sequence: UInt64
        /// Place in line among equal priorities: submission order, renewed at preemption.
        var order: UInt64
        let execution: WorkExecution
        var ranNanoseconds: UInt64 = 0

        init(context: SoftGPUContext, work: GpuWork, sequence: UInt64, order: UInt64) {
            self.context = context
            self.work = work
            self.sequence = sequence
            self.order = order
            execution = WorkExecution(work.payload)
        }
    }

    private struct State {
        var queues: [ObjectIdentifier: [Job]] = [:]
        var nextOrder: UInt64 = 0
        var running = false
    }

    let configuration: SoftGPUConfiguration
    private let state = Locked(State())
    private let executor = DispatchQueue(label: "softgpu.engine")
    private let busy = Atomic<UInt64>(0)
    private let totals = Locked(ExecutionCounters())
    /// The highest priority among waiting queue heads plus one; 0 when nothing waits.
    private let waitingPriority = Atomic<UInt64>(0)

    init(configuration: SoftGPUConfiguration) {
        self.configuration = configuration
    }

    /// Nanoseconds the engine has spent executing work.
    var busyNanoseconds: UInt64 { busy.load(ordering: .relaxed) }

    /// What all work has executed so far.
    var counters: ExecutionCounters { totals.withLock { $0 } }

    /// Queues work for a context.
    func enqueue(_ work: GpuWork, context: SoftGPUContext, sequence: UInt64) {
        let start = state.withLock { state in
            let job = Job(context: context, work: work, sequence: sequence, order: state.nextOrder)
            state.nextOrder += 1
            state.queues[ObjectIdentifier(context), default: []].append(job)
            publishWaiting(state)
            if state.running { return false }
            state.running = true
            return true
        }
        if start { executor.async { self.drain() } }
    }

    /// Drops a context's queued work; it completes with CONTEXT_KILLED from the engine thread.
    func remove(_ context: SoftGPUContext) {
        let dropped: [Job] = state.withLock { state in
            defer { publishWaiting(state) }
            return state.queues.removeValue(forKey: ObjectIdentifier(context)) ?? []
        }
        guard !dropped.isEmpty else { return }
        executor.async { dropped.forEach { $0.work.complete(.contextKilled) } }
    }

    /// Publishes the best waiting priority for the running work's preemption checks.
    private func publishWaiting(_ state: State) {
        let best = state.queues.values.compactMap(\.first?.context.priority.rawValue).max()
        waitingPriority.store(best.map { $0 == .max ? .max : $0 + 1 } ?? 0, ordering: .relaxed)
    }

    /// Takes the next job off its queue: highest priority, then lowest order.
    private func nextJob() -> Job? {
        state.withLock { state in
            var best: (key: ObjectIdentifier, job: Job)?
            for (key, queue) in state.queues {
                guard let head = queue.first else { continue }
                if let current = best {
                    let higher = head.context.priority > current.job.context.priority
                    let earlier = head.context.priority == current.job.context.priority && head.order < current.job.order
                    if !(higher || earlier) { continue }
                }
                best = (key, head)
            }
            guard let best else {
                state.running = false
                return nil
            }
            state.queues[best.key]!.removeFirst()
            if state.queues[best.key]!.isEmpty { state.queues[best.key] = nil }
            publishWaiting(state)
            return best.job
        }
    }

    /// Puts preempted work back at the head of its context's queue, behind other contexts'
    /// waiting work of the same priority.
    private func requeue(_ job: Job) {
        state.withLock { state in
            job.order = state.nextOrder
            state.nextOrder += 1
            state.queues[ObjectIdentifier(job.context), default: []].insert(job, at: 0)
            publishWaiting(state)
        }
    }

    private func drain() {
        while let job = nextJob() { execute(job) }
    }

    /// Runs one slice of a job; completes it, or requeues it when preempted.
    private func execute(_ job: Job) {
        let connection = job.context.connection
        guard connection.isLive else {
            job.work.complete(.contextKilled)
            return
        }
        let started = Clock.monotonicNanoseconds()
        let sliceEnd = started &+ configuration.timeSliceNanoseconds
        let priority = job.context.priority.rawValue
        var slice = WorkExecution.Slice(
            space: connection.space, computeThreads: configuration.computeThreads,
            watchdog: Watchdog(limitNanoseconds: configuration.watchdogNanoseconds, usedNanoseconds: job.ranNanoseconds),
            shouldYield: { [self] in
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
        let elapsed = Clock.monotonicNanoseconds() - started
        job.ranNanoseconds += elapsed
        busy.add(elapsed, ordering: .relaxed)
        totals.withLock { $0 += slice.counters }
        switch outcome {
        case .success(false):
            requeue(job)
        case .success(true):
            // Notify before completing, so a client woken by a signal semaphore finds the
            // notification already queued.
            connection.notify(.completed(sequence: job.sequence, status: MagmaStatus.ok.rawValue, gpuNanoseconds: job.ranNanoseconds))
            job.work.complete(.ok)
        case .failure(let fault):
            connection.fault(fault, sequence: job.sequence)
            job.work.complete(.contextKilled)
        }
    }
}
