import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import SystemPackage

/// Waits for the semaphores of the device's held work: one `softgpu.waits` thread per device,
/// started when a context's head job must wait and ended when no context waits.
///
/// The thread polls the unsignaled wait semaphores of every waiting context's head job, and an
/// internal eventfd that `watch` signals when a new context starts waiting. When a head's waits
/// have all signaled, its context releases it (and the jobs behind it that are ready) to the
/// engine (`SoftGPUContext.releaseReadyWork`). Only `poll(2)` touches the clients' eventfds, so
/// the thread never blocks on a descriptor a client controls, and the engine's threads never
/// wait for a semaphore.
final class SemaphoreWaiter: Sendable {
    private struct State {
        var contexts: [ObjectIdentifier: SoftGPUContext] = [:]
        var running = false
    }

    /// What a waiting head still waits for: kept alive (with its descriptor) until the poll
    /// returns, even if its work is dropped meanwhile.
    enum Awaited {
        /// A wait semaphore not signaled.
        case semaphore(SoftGPUSemaphore)
        /// A wait timeline point not reached: its watch polls readable once it is.
        case timeline(TimelineWatch)

        var descriptor: FileDescriptor {
            switch self {
            case .semaphore(let semaphore): semaphore.event.descriptor.fileDescriptor
            case .timeline(let watch): watch.descriptor
            }
        }
    }

    private let state = Locked(State())
    private let wake: EventSemaphore
    private let engine: Engine

    init(engine: Engine) throws(PlatformError) {
        self.engine = engine
        wake = try EventSemaphore()
    }

    /// Starts watching `context`, whose head job waits. Called after the job was held, without
    /// the context's lock. If no thread can be started, every watched context's held work is
    /// dropped (it completes with CONTEXT_KILLED, which fails its connection).
    func watch(_ context: SoftGPUContext) {
        let start: Bool = state.withLock { state in
            state.contexts[ObjectIdentifier(context)] = context
            if state.running { return false }
            state.running = true
            return true
        }
        guard start else {
            wake.signal()
            return
        }
        do {
            try HostThread.spawn(name: "softgpu.waits") { [self] in run() }
        } catch {
            let stranded = state.withLock { state in
                state.running = false
                defer { state.contexts = [:] }
                return Array(state.contexts.values)
            }
            stranded.forEach { engine.abandon($0.takeHeldWork()) }
        }
    }

    /// Stops watching `context`: it holds no work. Called under the context's lock.
    func unwatch(_ context: SoftGPUContext) {
        _ = state.withLock { $0.contexts.removeValue(forKey: ObjectIdentifier(context)) }
    }

    private func run() {
        while true {
            let contexts = state.withLock { Array($0.contexts.values) }
            // The semaphores and watches themselves, not their descriptor numbers: they stay
            // open until the poll returns even if their work is dropped meanwhile.
            let awaited = contexts.flatMap { $0.releaseReadyWork() }
            let idle = state.withLock { state in
                if state.contexts.isEmpty { state.running = false }
                return !state.running
            }
            if idle { return }
            let requests = [PollRequest(descriptor: wake.descriptor.fileDescriptor)]
                + awaited.map { PollRequest(descriptor: $0.descriptor) }
            _ = try? Poller.poll(requests, timeoutNanoseconds: Poller.forever)
            wake.reset()
        }
    }
}
