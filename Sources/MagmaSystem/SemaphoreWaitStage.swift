import MagmaPlatform
import MagmaProtocol

/// Holds work until its wait semaphores have all signaled, then resets them (binary semantics)
/// and hands the work to the driver, keeping each context's submission order.
///
/// One per device. Work with nothing to wait on, on a context with nothing queued, goes to the
/// driver at once on the caller's thread; otherwise a waiter thread polls the semaphores. The
/// thread exits when no work is waiting. The waiter hands work to the driver under the lock of
/// the work's connection (`Serializer`), so the driver's calls for one connection stay
/// serialized, as `MsdDriver` promises.
final class SemaphoreWaitStage: Sendable {
    /// Runs a body under the lock of one connection: every driver call for that connection
    /// runs under it.
    typealias Serializer = @Sendable (() -> Void) -> Void

    private struct Pending {
        let work: GpuWork
        let waits: [SystemSemaphore]
    }

    private struct Queue {
        let context: any MsdContext
        /// The lock of the context's connection.
        let serialize: Serializer
        var pending: [Pending]
    }

    private struct State {
        var queues: [ObjectIdentifier: Queue] = [:]
        var waiterRunning = false
    }

    private let state = Locked(State())
    private let wake: EventSemaphore

    init() throws(PlatformError) {
        wake = try EventSemaphore()
    }

    /// Queues `work` for `context` behind its earlier work and its `waits` (a semaphore listed
    /// more than once is waited for, and reset, once). The caller holds its connection's lock,
    /// which `serialize` takes for the waiter thread. MEMORY_ERROR if the waiter thread is
    /// needed and cannot be started: the work stays queued until the caller's connection,
    /// which fails with that error, removes it.
    func submit(_ work: GpuWork, waits listed: [SystemSemaphore], to context: any MsdContext,
                serializedBy serialize: @escaping Serializer) throws(MagmaError) {
        var seen = Set<ObjectIdentifier>()
        let waits = listed.filter { seen.insert(ObjectIdentifier($0)).inserted }
        let key = ObjectIdentifier(context)
        let startWaiter: Bool = state.withLock { state in
            if state.queues[key] == nil, Self.allSignaled(waits) {
                waits.forEach { $0.consumeAfterWait() }
                context.submit(work)
                return false
            }
            state.queues[key, default: Queue(context: context, serialize: serialize, pending: [])].pending.append(Pending(work: work, waits: waits))
            if state.waiterRunning { return false }
            state.waiterRunning = true
            return true
        }
        if startWaiter {
            do {
                try HostThread.spawn(name: "magma-waits") { [self] in run() }
            } catch {
                state.withLock { $0.waiterRunning = false }
                throw .memoryError("no thread to wait for semaphores: \(error)")
            }
        } else {
            wake.signal()
        }
    }

    /// Removes the waiting work of `context` and returns it, for cancellation.
    func removeAll(for context: any MsdContext) -> [GpuWork] {
        let removed = state.withLock { $0.queues.removeValue(forKey: ObjectIdentifier(context)) }
        wake.signal()
        return removed?.pending.map(\.work) ?? []
    }

    private static func allSignaled(_ semaphores: [SystemSemaphore]) -> Bool {
        if semaphores.isEmpty { return true }
        let ready = (try? Poller.poll(semaphores.map { PollRequest(descriptor: $0.event.descriptor.rawValue) }, timeoutNanoseconds: 0)) ?? []
        return ready.count == semaphores.count && ready.allSatisfy { $0 }
    }

    /// Releases every head whose waits have signaled, each under its connection's lock. Returns
    /// the semaphores still awaited and whether a head became ready meanwhile (poll nothing,
    /// look again), or nil when nothing is queued (the waiter then stops).
    private func advance() -> (awaited: [SystemSemaphore], retry: Bool)? {
        // The connection's lock comes before the stage's (as on a client's submit path), so
        // the queues with a ready head are picked first and served after, one lock at a time.
        let ready: [(key: ObjectIdentifier, serialize: Serializer)] = state.withLock { state in
            state.queues.compactMap { key, queue in
                guard let head = queue.pending.first, Self.allSignaled(head.waits) else { return nil }
                return (key, queue.serialize)
            }
        }
        for queue in ready { queue.serialize { [self] in releaseReadyHeads(of: queue.key) } }
        return state.withLock { state in
            var awaited: [SystemSemaphore] = []
            var retry = false
            for (key, queue) in state.queues {
                guard let head = queue.pending.first else {
                    state.queues[key] = nil
                    continue
                }
                let unsignaled = head.waits.filter { !$0.event.isSignaled }
                if unsignaled.isEmpty { retry = true }
                awaited.append(contentsOf: unsignaled)
            }
            if state.queues.isEmpty {
                state.waiterRunning = false
                return nil
            }
            return (awaited, retry)
        }
    }

    /// Hands the driver the heads of one context's queue whose waits have signaled, in order.
    /// Runs under the context's connection lock; a queue removed meanwhile (the context
    /// destroyed, the connection closed) is gone and its work cancelled by whoever removed it.
    private func releaseReadyHeads(of key: ObjectIdentifier) {
        state.withLock { state in
            guard var queue = state.queues[key] else { return }
            while let head = queue.pending.first, Self.allSignaled(head.waits) {
                head.waits.forEach { $0.consumeAfterWait() }
                queue.context.submit(head.work)
                queue.pending.removeFirst()
            }
            state.queues[key] = queue.pending.isEmpty ? nil : queue
        }
    }

    private func run() {
        while let (awaited, retry) = advance() {
            if retry { continue }
            let requests = [PollRequest(descriptor: wake.descriptor.rawValue)]
                + awaited.map { PollRequest(descriptor: $0.event.descriptor.rawValue) }
            _ = try? Poller.poll(requests, timeoutNanoseconds: Poller.forever)
            wake.reset()
        }
    }
}
