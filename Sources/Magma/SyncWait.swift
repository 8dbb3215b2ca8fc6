import MagmaPlatform
import MagmaProtocol

/// Something a CPU wait for several sync objects waits for.
public enum SyncPoint: Sendable {
    /// A binary semaphore, ready while signaled (waiting never resets it).
    case semaphore(Semaphore)
    /// A timeline point, ready once the timeline's value has reached it.
    case timeline(TimelineSemaphore, UInt64)
}

/// CPU waits for all or any of several binary semaphores and timeline points at once.
///
/// Event-driven: binary semaphores are polled through their descriptors, timeline points
/// through watches (`BackendTimeline.watch(for:)`), beside the failure descriptor of every
/// connection involved, so a wait ends as soon as what it waits for is ready, a timeline it
/// waits on fails (CONTEXT_KILLED), or one of the connections fails (its error).
public enum SyncWait {
    /// Waits until every point is ready, or `timeoutNanoseconds` pass (`Poller.forever` waits
    /// forever): TIMED_OUT. Throws, checked in this order: a failed connection's error, a
    /// failed timeline's failure (for a point not reached), TIMED_OUT.
    public static func all(_ points: [SyncPoint], timeoutNanoseconds: UInt64) throws(MagmaError) {
        _ = try wait(points, all: true, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Waits until at least one point is ready, or the timeout passes; returns, per point,
    /// whether it is ready. Errors as for `all`.
    @discardableResult
    public static func any(_ points: [SyncPoint], timeoutNanoseconds: UInt64) throws(MagmaError) -> [Bool] {
        try wait(points, all: false, timeoutNanoseconds: timeoutNanoseconds)
    }

    private static func wait(_ points: [SyncPoint], all: Bool, timeoutNanoseconds: UInt64) throws(MagmaError) -> [Bool] {
        guard !points.isEmpty else { throw .invalidArgs("nothing to wait for") }
        let connections = try involvedConnections(points)
        let deadline = Deadline(after: timeoutNanoseconds)
        // One watch per timeline point, made once, kept until the wait ends.
        var watches: [Int: any BackendTimelineWatch] = [:]
        while true {
            try check(connections)
            let ready = try points.map { point throws(MagmaError) in try isReady(point) }
            if all ? !ready.contains(false) : ready.contains(true) { return ready }
            var requests = connections.map { PollRequest(descriptor: $0.failureDescriptor) }
            for (index, point) in points.enumerated() where !ready[index] {
                switch point {
                case .semaphore(let semaphore): requests.append(PollRequest(descriptor: semaphore.pollDescriptor))
                case .timeline(let timeline, let value):
                    if watches[index] == nil { watches[index] = try timeline.backend.watch(for: value) }
                    requests.append(PollRequest(descriptor: watches[index]!.pollDescriptor))
                }
            }
            if deadline.hasPassed {
                try check(connections)
                throw MagmaError(.timedOut, "not ready before the timeout")
            }
            do { _ = try Poller.poll(requests, timeoutNanoseconds: deadline.remainingNanoseconds) } catch {
                throw .internalError("\(error)")
            }
        }
    }

    /// Whether `point` is ready; throws a timeline's failure for a point it has not reached.
    private static func isReady(_ point: SyncPoint) throws(MagmaError) -> Bool {
        switch point {
        case .semaphore(let semaphore): return semaphore.isSignaled
        case .timeline(let timeline, let value):
            if timeline.value >= value { return true }
            if let failure = timeline.failure { throw failure }
            return false
        }
    }

    /// The connections of the points, each once. A released object, or one whose connection
    /// is gone, is BAD_STATE.
    private static func involvedConnections(_ points: [SyncPoint]) throws(MagmaError) -> [Connection] {
        var connections: [Connection] = []
        for point in points {
            let (connection, released): (Connection?, Bool) = switch point {
            case .semaphore(let semaphore): (semaphore.connection, semaphore.isReleased)
            case .timeline(let timeline, _): (timeline.connection, timeline.isReleased)
            }
            guard let connection, !released else { throw .badState("a sync object of the wait was released") }
            if !connections.contains(where: { $0 === connection }) { connections.append(connection) }
        }
        return connections
    }

    private static func check(_ connections: [Connection]) throws(MagmaError) {
        for connection in connections { if let error = connection.error { throw error } }
    }
}
