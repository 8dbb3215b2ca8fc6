import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaWire

extension HostContext {
    /// Applies a timeline command of a SUBMIT_3D payload. Unknown or used ids fail the context
    /// (thrown); a CPU signal's refusal (a point not above the value) goes in its reply.
    func applyTimeline(_ message: VirtioContextProtocol.ClientMessage, _ scope: inout CommandScope) throws(MagmaError) {
        switch message {
        case .createTimeline(let m):
            try checkNew(m.timelineId, in: timelines, "timeline")
            timelines[m.timelineId] = try connection.createTimelineSemaphore(initialValue: m.initialValue)
        case .signalTimeline(let m):
            let reply = try target(m.reply, scope)
            let timeline = try timeline(m.timelineId)
            do { try timeline.signal(to: m.point); try reply.writeStatus(nil) } catch where error.status == .invalidArgs {
                try reply.writeStatus(error)
            }
        case .getTimelineState(let m):
            let reply = try target(m.reply, scope)
            let timeline = try timeline(m.timelineId)
            let failure = timeline.failure
            try reply.write(VirtioContextProtocol.TimelineStateReply(
                status: .ok, value: timeline.value, failure: failure?.status ?? .ok,
                reason: (failure?.message ?? "").truncated(toUTF8Bytes: 256)))
        case .waitTimeline(let m):
            let reply = try target(m.reply, scope)
            let timeline = try timeline(m.timelineId)
            scope.pending?.timelineWaits.append(
                TimelineWait(timeline: timeline, point: m.point, waitId: m.waitId, reply: reply, watch: try timeline.watch(for: m.point)))
        case .cancelTimelineWait(let m):
            for wait in scope.pending?.timelineWaits ?? [] where wait.waitId == m.waitId { wait.cancel() }
            watcher.cancelTimelineWaits(m.waitId)
        default:
            throw .internalError("\(message) is not a timeline command")
        }
    }

    /// Answers a timeline call of a failed context with its error (see `answerFailed`).
    func answerFailedTimeline(_ message: VirtioContextProtocol.ClientMessage, _ error: MagmaError, _ scope: inout CommandScope) {
        switch message {
        case .signalTimeline(let m): try? target(m.reply, scope).writeStatus(error)
        case .getTimelineState(let m):
            try? target(m.reply, scope).write(VirtioContextProtocol.TimelineStateReply(
                status: error.status, value: 0, failure: .ok, reason: error.message.truncated(toUTF8Bytes: 256)))
        case .waitTimeline(let m):
            if let reply = try? target(m.reply, scope) { scope.pending?.failureWatches.append(reply) }
        default: break
        }
    }

    func timeline(_ id: UInt64) throws(MagmaError) -> TimelineSemaphore {
        guard let timeline = timelines[id] else { throw .invalidArgs("context \(self.id) has no timeline \(id)") }
        return timeline
    }

    /// Releases a timeline of this context; its pending waits end (BAD_STATE).
    func releaseTimeline(_ id: UInt64) throws(MagmaError) {
        try connection.release(try timeline(id))
        timelines[id] = nil
        watcher.poke()
    }

    /// The host points of guest timeline points of this context.
    func hostPoints(_ points: [TimelinePoint]) throws(MagmaError) -> [TimelinePoint] {
        try points.map { point throws(MagmaError) in TimelinePoint(timelineId: try timeline(point.timelineId).id, value: point.value) }
    }
}

/// A guest's `wait_timeline`: one point of a host timeline, the host watch that polls readable
/// once it may be done, and where the outcome goes. `cancel_timeline_wait` ends it early.
final class TimelineWait: Sendable {
    let timeline: TimelineSemaphore
    let point: UInt64
    let waitId: UInt64
    let reply: ReplyTarget
    /// Polls readable once the point is reached or the timeline failed.
    let watch: any BackendTimelineWatch
    private let cancelled = Locked(false)

    init(timeline: TimelineSemaphore, point: UInt64, waitId: UInt64, reply: ReplyTarget, watch: any BackendTimelineWatch) {
        self.timeline = timeline
        self.point = point
        self.waitId = waitId
        self.reply = reply
        self.watch = watch
    }

    /// Ends the wait with BAD_STATE, unless its point is reached first.
    func cancel() { cancelled.withLock { $0 = true } }

    /// Nil while pending; once done, its outcome: `.some(nil)` for a reached point, else the
    /// error its reply carries (the timeline's failure, BAD_STATE for a released timeline or a
    /// cancelled wait).
    var outcome: MagmaError?? {
        if timeline.value >= point { return .some(nil) }
        if let failure = timeline.failure { return .some(failure) }
        if timeline.isReleased { return .some(.badState("wait \(waitId): its timeline was released")) }
        if cancelled.withLock({ $0 }) { return .some(.badState("wait \(waitId) was cancelled")) }
        return nil
    }
}
