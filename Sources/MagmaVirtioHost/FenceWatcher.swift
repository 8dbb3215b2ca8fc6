import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaWire
import SystemPackage

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

    /// Whether it is done, judged from one reading of its semaphores (`unsignaled`) and of its
    /// timeline waits (`unsettled`, from `pendingTimelineDescriptors`): the same reading the
    /// poll set is made from.
    func isSatisfied(unsignaled: [Semaphore], unsettled: [FileDescriptor]) -> Bool {
        let ids = Set(unsignaled.map(ObjectIdentifier.init))
        return failureWatches.isEmpty && work.allSatisfy { !ids.contains(ObjectIdentifier($0)) }
            && waits.allSatisfy { $0.isSatisfied(unsignaled: ids) } && unsettled.isEmpty
    }

    /// Whether it waits for anything (work, semaphores, a failure, timeline points).
    var waitsForAnything: Bool { !work.isEmpty || !waits.isEmpty || !failureWatches.isEmpty || !timelineWaits.isEmpty }

    /// The host watches of its timeline waits still pending, to poll.
    var pendingTimelineDescriptors: [FileDescriptor] { timelineWaits.filter { $0.outcome == nil }.map(\.watch.pollDescriptor) }
}

/// Waits for the pending fences of one context on a thread of its own, event-driven: it polls
/// the semaphores they wait for beside a wake eventfd and a sentinel semaphore of the context's
/// host connection (never signaled, so `Poll` throws the connection's error the moment it
/// fails). A failure completes every pending fence with the error in its replies; so does
/// `stop`. Nothing is polled when nothing is pending but the sentinel. Notification reads
/// (`NotificationRead`) poll the connection's notification channel, and go on after a failure
/// until `stop`.
final class FenceWatcher: Sendable {
    private struct State {
        var pending: [PendingFence] = []
        /// `read_notification`s and `sync_notifications` not answered yet, in order; they go on
        /// after a failure, until `stop`.
        var reads: [NotificationRead] = []
        /// Set once a read found the host channel ended: later syncs are answered at once.
        var channelEnded = false
        /// Set once the context failed or was stopped: later fences complete at once with it.
        var failure: MagmaError?
        /// Set by `stop`: the thread ends.
        var stopped = false
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

    /// Watches `pending` until it is satisfied or the context fails. One that waits for no GPU
    /// work is preemptible: a later fence of its timeline done first ends it (`preempt`).
    func add(_ pending: PendingFence) {
        let failure = state.withLock { state -> MagmaError? in
            if state.failure == nil { state.pending.append(pending) }
            return state.failure
        }
        if let failure { return finish(pending, failure: failure) }
        if pending.work.isEmpty {
            let fence = pending.fence
            timelines.preemptible(fence) { [weak self] in self?.preempt(fence) ?? false }
        }
        wake.signal()
    }

    /// Ends the wait of `fence` (a pending fence or a notification read still watched here)
    /// with `preempted_reply` in each of its replies; false if it is no longer watched (its
    /// outcome is being written). Its fence is then done (the caller marks it).
    private func preempt(_ fence: Fence) -> Bool {
        enum Found { case pending(PendingFence), read(NotificationRead) }
        let found = state.withLock { state -> Found? in
            if let index = state.pending.firstIndex(where: { $0.fence === fence }) { return .pending(state.pending.remove(at: index)) }
            if let index = state.reads.firstIndex(where: { $0.fence === fence }) { return .read(state.reads.remove(at: index)) }
            return nil
        }
        let preempted = VirtioContextProtocol.PreemptedReply()
        switch found {
        case .pending(let pending):
            for reply in pending.waits.map(\.reply) + pending.timelineWaits.map(\.reply) + pending.failureWatches {
                try? reply.write(preempted)
            }
        case .read(let read): try? read.reply.write(preempted)
        case nil: return false
        }
        wake.signal()
        return true
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

    /// Ends the watch: every pending fence completes with `error`, every notification read with
    /// the channel's end; the thread ends soon after (`ended`).
    func stop(_ error: MagmaError) {
        state.withLock { state in
            if state.failure == nil { state.failure = error }
            state.stopped = true
        }
        wake.signal()
    }

    /// Answers `read` once a notification is pending or the channel has ended, even after the
    /// context failed.
    func addRead(_ read: NotificationRead) {
        let stopped = state.withLock { state -> Bool in
            if !state.stopped { state.reads.append(read) }
            return state.stopped
        }
        if stopped { return read.end(timelines) }
        let fence = read.fence
        timelines.preemptible(fence) { [weak self] in self?.preempt(fence) ?? false }
        wake.signal()
    }

    private func run() {
        defer {
            onExit?()
            ended.signal()
        }
        while true {
            wake.reset()
            let pass = state.withLock { state in
                // A failure seen before the poll reports it: failed fences (a failure watch)
                // complete before a read finds the channel closed.
                if state.failure == nil, let error = connection.error { state.failure = error }
                return Pass(&state)
            }
            if pass.stopped {
                for fence in pass.failed { finish(fence, failure: pass.failure ?? .badState("stopped")) }
                for read in pass.reads { read.end(timelines) }
                return
            }
            // A failure's fences first, so a guest learns of the failure before its channel ends.
            if let failure = pass.failure { for fence in pass.failed { finish(fence, failure: failure) } }
            // Then notification reads, outside the lock (each reads the host channel once): a
            // driver queues a work's notification before it signals, so a guest woken by a fence
            // of this pass finds the notification already answered.
            let readsPending = answerReads(pass)
            for fence in pass.ready { finish(fence, failure: nil) }
            let channel: [FileDescriptor] = readsPending ? [connection.notificationDescriptor] : []

            if pass.failure == nil {
                do {
                    _ = try Poll.wait([.descriptor(wake.descriptor.fileDescriptor), .semaphore(sentinel)] + pass.waited.map { .semaphore($0) }
                                        + (pass.watches + channel).map { .descriptor($0) }, timeoutNanoseconds: Poller.forever)
                } catch {
                    state.withLock { state in if state.failure == nil { state.failure = error } }
                }
            } else {
                // Failed: only notification reads go on (the failure's report comes after it).
                _ = try? Poller.poll(([wake.descriptor.fileDescriptor] + channel).map { PollRequest(descriptor: $0) },
                                     timeoutNanoseconds: Poller.forever)
            }
        }
    }

    /// Answers the reads still watched that can be, then the syncs if a read now waits on an
    /// empty channel (or the channel has ended), under the state's lock so a preemption never
    /// meets a read being answered (a notification taken is always answered); their fences are
    /// done after it. Whether a read still waits.
    private func answerReads(_ pass: Pass) -> Bool {
        guard !pass.reads.isEmpty else { return false }
        let (answered, waiting) = state.withLock { state -> ([Fence], Bool) in
            var answered: [Fence] = []
            var waiting = false
            var ended = state.channelEnded
            for read in state.reads where !read.isSync {
                switch read.tryAnswer(connection) {
                case .answered: answered.append(read.fence)
                case .ended:
                    answered.append(read.fence)
                    ended = true
                case .waiting: waiting = true
                }
            }
            if waiting || ended {
                for sync in state.reads where sync.isSync {
                    sync.writeSync(channelEnded: ended && !waiting)
                    answered.append(sync.fence)
                }
            }
            state.reads.removeAll { read in answered.contains { $0 === read.fence } }
            if ended { state.channelEnded = true }
            return (answered, waiting)
        }
        for fence in answered { timelines.done(fence) }
        return waiting
    }

    /// One look at the state, under its lock: the fences to finish (satisfied now, or all of them
    /// once the context failed) and, for the others, what to poll; the notification reads.
    private struct Pass {
        var ready: [PendingFence] = []
        var failed: [PendingFence] = []
        var waited: [Semaphore] = []
        var watches: [FileDescriptor] = []
        var reads: [NotificationRead]
        let failure: MagmaError?
        let stopped: Bool
        let channelEnded: Bool

        init(_ state: inout State) {
            failure = state.failure
            stopped = state.stopped
            channelEnded = state.channelEnded
            reads = state.reads
            if stopped { state.reads = [] }
            if failure != nil {
                failed = state.pending
                state.pending = []
                return
            }
            // The semaphores still unsignaled at this moment: one signaled after it is in the
            // poll set, so the poll returns at once; none is missed between two looks.
            var waiting: [PendingFence] = []
            // So are the timeline waits not settled at this moment. Looked at once for both the
            // decision and the poll set: a point reached between two looks (the second leaving
            // its watch out of the poll while the first had kept the fence waiting) left the
            // fence waiting with nothing to wake it.
            for pending in state.pending {
                let unsignaled = pending.unsignaled
                let unsettled = pending.pendingTimelineDescriptors
                if pending.isSatisfied(unsignaled: unsignaled, unsettled: unsettled) { ready.append(pending) } else {
                    waiting.append(pending)
                    waited += unsignaled
                    watches += unsettled
                }
            }
            state.pending = waiting
        }
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
