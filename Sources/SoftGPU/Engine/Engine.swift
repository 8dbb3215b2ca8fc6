import Dispatch
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import Synchronization

/// The SoftGPU engine: one queue of work per context and a scheduler that runs one piece of
/// work at a time, highest context priority first, then oldest submission first (FIFO).
final class Engine: Sendable {
    private struct Job {
        let context: SoftGPUContext
        let work: GpuWork
        /// Per-connection sequence number, reported in notifications.
        let sequence: UInt64
        /// Device-wide submission order.
        let order: UInt64
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

    init(configuration: SoftGPUConfiguration) {
        self.configuration = configuration
    }

    /// Nanoseconds the engine has spent executing work.
    var busyNanoseconds: UInt64 { busy.load(ordering: .relaxed) }

    /// Queues work for a context.
    func enqueue(_ work: GpuWork, context: SoftGPUContext, sequence: UInt64) {
        let start = state.withLock { state in
            let job = Job(context: context, work: work, sequence: sequence, order: state.nextOrder)
            state.nextOrder += 1
            state.queues[ObjectIdentifier(context), default: []].append(job)
            if state.running { return false }
            state.running = true
            return true
        }
        if start { executor.async { self.drain() } }
    }

    /// Drops a context's queued work; it completes with CONTEXT_KILLED from the engine thread.
    func remove(_ context: SoftGPUContext) {
        let dropped = state.withLock { $0.queues.removeValue(forKey: ObjectIdentifier(context)) } ?? []
        guard !dropped.isEmpty else { return }
        executor.async { dropped.forEach { $0.work.complete(.contextKilled) } }
    }

    private func nextJob() -> Job? {
        state.withLock { state in
            var best: (key: ObjectIdentifier, job: Job)?
            for (key, queue) in state.queues {
                guard let head = queue.first else { continue }
                if let current = best {
                    let higher = head.context.priority > current.job.context.priority
                    let older = head.context.priority == current.job.context.priority && head.order < current.job.order
                    if !(higher || older) { continue }
                }
                best = (key, head)
            }
            guard let best else {
                state.running = false
                return nil
            }
            state.queues[best.key]!.removeFirst()
            if state.queues[best.key]!.isEmpty { state.queues[best.key] = nil }
            return best.job
        }
    }

    private func drain() {
        while let job = nextJob() { execute(job) }
    }

    private func execute(_ job: Job) {
        let connection = job.context.connection
        guard connection.isLive else {
            job.work.complete(.contextKilled)
            return
        }
        let started = Clock.monotonicNanoseconds()
        var processor = CommandProcessor(space: connection.space, computeThreads: configuration.computeThreads,
                                         watchdog: Watchdog(limitNanoseconds: configuration.watchdogNanoseconds))
        let outcome: ExecutionFault?
        do {
            try processor.run(job.work.payload)
            outcome = nil
        } catch {
            outcome = error
        }
        let elapsed = Clock.monotonicNanoseconds() - started
        busy.add(elapsed, ordering: .relaxed)
        // Notify before completing, so a client woken by a signal semaphore finds the
        // notification already queued.
        guard let fault = outcome else {
            connection.notify(.completed(sequence: job.sequence, status: MagmaStatus.ok.rawValue, gpuNanoseconds: elapsed))
            job.work.complete(.ok)
            return
        }
        connection.fault(fault, sequence: job.sequence)
        job.work.complete(.contextKilled)
    }
}
