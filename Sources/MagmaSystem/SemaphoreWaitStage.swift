import MagmaPlatform
import MagmaProtocol

/// Holds work until its wait semaphores have all signaled, then resets them (binary semantics)
/// and hands the work to the driver, keeping each context's submission order.
///
/// One per device. Work with nothing to wait on, on a context with nothing queued, goes to the
/// driver at once on the caller's thread; otherwise a waiter thread polls the semaphores. The
/// thread exits when no work is waiting.
final class SemaphoreWaitStage: Sendable {
    private struct Pending {
        let work: GpuWork
        let waits: [SystemSemaphore]
    }

    private struct Queue {
        let context: any MsdContext
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
    /// more than once is waited for, and reset, once). MEMORY_ERROR if the waiter thread is
    /// needed and cannot be started: the work stays queued until the caller's connection,
    /// which fails with that error, removes it.
    func submit(_ work: GpuWork, waits listed: [SystemSemaphore], to context: any MsdContext) throws(MagmaError) {
        var seen = Set<ObjectIdentifier>()
        let waits = listed.filter { seen.insert(ObjectIdentifier($0)).inserted }
        let key = ObjectIdentifier(context)
        let startWaiter: Bool = state.withLock { state in
            if state.queues[key] == nil, Self.allSignaled(waits) {
                waits.forEach { $0.consumeAfterWait() }
                context.submit(work)
                return false
            }
            state.queues[key, default: Queue(context: context, pending: [])].pending.append(Pending(work: work, waits: waits))
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

    /// Releases every head whose waits have signaled. Returns the semaphores still awaited and
    /// whether a head became ready meanwhile (poll nothing, look again), or nil when nothing is
    /// queued (the waiter then stops).
    private func advance() -> (awaited: [SystemSemaphore], retry: Bool)? {
        state.withLock { state in
            var awaited: [SystemSemaphore] = []
            var retry = false
            for key in Array(state.queues.keys) {
                guard var queue = state.queues[key] else { continue }
                while let head = queue.pending.first, Self.allSignaled(head.waits) {
                    head.waits.forEach { $0.consumeAfterWait() }
                    queue.context.submit(head.work)
                    queue.pending.removeFirst()
                }
                if let head = queue.pending.first {
                    let unsignaled = head.waits.filter { !$0.event.isSignaled }
                    if unsignaled.isEmpty { retry = true }
                    awaited.append(contentsOf: unsignaled)
                    state.queues[key] = queue
                } else {
                    state.queues[key] = nil
                }
            }
            if state.queues.isEmpty {
                state.waiterRunning = false
                return nil
            }
            return (awaited, retry)
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
