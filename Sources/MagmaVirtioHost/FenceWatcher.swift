import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaWire

/// What a fenced SUBMIT_3D waits for before its fence is done.
struct PendingFence: Sendable {
    /// A guest's `wait_semaphores`: all or any of its semaphores, and where the outcome goes.
    struct SemaphoreWait: Sendable {
        let semaphores: [Semaphore]
        let waitAll: Bool
        let reply: ReplyTarget

        /// Whether it is satisfied, given the semaphores (of all the fence's) that were
        /// unsignaled. A wait on a semaphore the guest has released ends too: nothing can
        /// signal it any more, and the wait must not hold it.
        func isSatisfied(unsignaled: Set<ObjectIdentifier>) -> Bool {
            if semaphores.contains(where: \.isReleased) { return true }
            let signaled = { (semaphore: Semaphore) in !unsignaled.contains(ObjectIdentifier(semaphore)) }
            return waitAll ? semaphores.allSatisfy(signaled) : semaphores.contains(where: signaled)
        }
    }

    let fence: Fence
    /// Host semaphores the submission's work signals when it completes (made by the model,
    /// added to the work's signal lists, released once the fence is done).
    var work: [Semaphore] = []
    var waits: [SemaphoreWait] = []
    /// `watch_failure` replies: written only when the context fails.
    var failureWatches: [ReplyTarget] = []
    /// `wait_timeline` waits: each done once its point is reached, its timeline failed or was
    /// released, or it was cancelled.
    var timelineWaits: [TimelineWait] = []

    /// The semaphores it waits for that are not signaled now, each read once.
    var unsignaled: [Semaphore] { (work + waits.flatMap(\.semaphores)).filter { !$0.isSignaled } }

    /// Whether it is done, judged from one reading of its semaphores (`unsignaled`).
    func isSatisfied(unsignaled: [Semaphore]) -> Bool {
        let ids = Set(unsignaled.map(ObjectIdentifier.init))
        return failureWatches.isEmpty && work.allSatisfy { !ids.contains(ObjectIdentifier($0)) }
            && waits.allSatisfy { $0.isSatisfied(unsignaled: ids) } && timelineWaits.allSatisfy { $0.outcome != nil }
    }

    /// The host watches of its timeline waits still pending, to poll.
    var pendingTimelineDescriptors: [Int32] { timelineWaits.filter { $0.outcome == nil }.map(\.watch.pollDescriptor) }
}

/// Waits for the pending fences of one context on a thread of its own, event-driven: it polls
/// the semaphores they wait for beside a wake eventfd and a sentinel semaphore of the context's
/// host connection (never signaled, so `Poll` throws the connection's error the moment it
/// fails). A failure completes every pending fence with the error in its replies; so does
/// `stop`. Nothing is polled when nothing is pending but the sentinel.
final class FenceWatcher: Sendable {
    private struct State {
        var pending: [PendingFence] = []
        /// Set once the context failed or was stopped: later fences complete at once with it.
        var failure: MagmaError?
    }

    private let state = Locked(State())
    private let wake: EventSemaphore
    private let sentinel: Semaphore
    private let connection: Connection
    private let timelines: FenceTimelines
    /// Signaled when the thread has ended (it then holds nothing of the context).
    let ended: EventSemaphore

    /// Runs on the thread as it ends, before `ended` is signaled.
    private let onExit: (@Sendable () -> Void)?

    init(connection: Connection, timelines: FenceTimelines, name: String, onExit: (@Sendable () -> Void)? = nil) throws(MagmaError) {
        self.onExit = onExit
        do {
            wake = try EventSemaphore()
            ended = try EventSemaphore()
        } catch { throw .internalError("fence watcher: \(error)") }
        sentinel = try connection.createSemaphore()
        self.connection = connection
        self.timelines = timelines
        do { try HostThread.spawn(name: name) { [self] in run() } } catch { throw .internalError("fence watcher thread: \(error)") }
    }

    /// Watches `pending` until it is satisfied or the context fails.
    func add(_ pending: PendingFence) {
        let failure = state.withLock { state -> MagmaError? in
            if state.failure == nil { state.pending.append(pending) }
            return state.failure
        }
        if let failure { finish(pending, failure: failure) } else { wake.signal() }
    }

    /// Looks at the pending fences again (a semaphore or timeline they wait on was released).
    func poke() { wake.signal() }

    /// Cancels the pending timeline waits of `waitId` (each then ends with BAD_STATE unless its
    /// point is reached first). An id no pending wait has is ignored.
    func cancelTimelineWaits(_ waitId: UInt64) {
        state.withLock { state in
            for pending in state.pending { for wait in pending.timelineWaits where wait.waitId == waitId { wait.cancel() } }
        }
        wake.signal()
    }

    /// Ends the watch: every pending fence completes with `error`; the thread ends soon after
    /// (`ended`).
    func stop(_ error: MagmaError) {
        state.withLock { state in if state.failure == nil { state.failure = error } }
        wake.signal()
    }

    private func run() {
        defer {
            onExit?()
            ended.signal()
        }
        while true {
            wake.reset()
            // One pass under the lock: the fences satisfied now, and for the others the
            // semaphores still unsignaled at this moment. One signaled after it is in the poll
            // set, so the poll returns at once; none is missed between two looks.
            let (ready, waited, watches, failure) = state.withLock { state -> ([PendingFence], [Semaphore], [Int32], MagmaError?) in
                if let failure = state.failure { return ([], [], [], failure) }
                var ready: [PendingFence] = []
                var waiting: [PendingFence] = []
                var waited: [Semaphore] = []
                var watches: [Int32] = []
                for pending in state.pending {
                    let unsignaled = pending.unsignaled
                    if pending.isSatisfied(unsignaled: unsignaled) { ready.append(pending) } else {
                        waiting.append(pending)
                        waited += unsignaled
                        watches += pending.pendingTimelineDescriptors
                    }
                }
                state.pending = waiting
                return (ready, waited, watches, nil)
            }
            if let failure { return finishAll(failure) }
            for pending in ready { finish(pending, failure: nil) }
            do {
                _ = try Poll.wait([.descriptor(wake.descriptor.rawValue), .semaphore(sentinel)] + waited.map { .semaphore($0) }
                                    + watches.map { .descriptor($0) }, timeoutNanoseconds: Poller.forever)
            } catch {
                state.withLock { state in if state.failure == nil { state.failure = error } }
            }
        }
    }

    private func finishAll(_ failure: MagmaError) {
        let pending = state.withLock { state in
            defer { state.pending = [] }
            return state.pending
        }
        for fence in pending { finish(fence, failure: failure) }
    }

    /// Writes the fence's replies (ok, or the failure), gives back its host semaphores and marks
    /// it done on its timeline.
    private func finish(_ pending: PendingFence, failure: MagmaError?) {
        var replyError: MagmaError?
        for wait in pending.waits {
            do { try wait.reply.writeStatus(failure) } catch { replyError = replyError ?? error }
        }
        for wait in pending.timelineWaits {
            do { try wait.reply.writeStatus(failure ?? wait.outcome ?? nil) } catch { replyError = replyError ?? error }
        }
        if let failure {
            for watch in pending.failureWatches {
                do { try watch.writeStatus(failure) } catch { replyError = replyError ?? error }
            }
        }
        for semaphore in pending.work { try? connection.release(semaphore) }
        if let replyError { connection.fail(replyError) }
        timelines.done(pending.fence)
    }
}
