import MagmaPlatform
import MagmaProtocol

extension SyncObject {
    /// Waits until every one of `points` is reached (a binary sync object signaled, a
    /// timeline's value at or above its point), or `timeoutNanoseconds` passes (`UInt64.max`
    /// waits forever); resets none. INVALID_ARGS for an empty list, a released object or a
    /// binary one's point other than 0; TIMED_OUT when one is not reached; CONTEXT_KILLED once
    /// work that was to signal a timeline of the list failed; and the error of a failed address
    /// space that uses one of them, at once (work that fails signals nothing).
    public static func waitAll(_ points: [SyncObjectPoint], timeoutNanoseconds: UInt64) throws(MagmaError) {
        try SyncWait.all(try corePoints(points).flatMap(\.self), timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Waits until at least one of `points` is reached, or `timeoutNanoseconds` passes, and
    /// returns the index of the first reached one; resets none. Errors as
    /// `waitAll(_:timeoutNanoseconds:)`.
    public static func waitAny(_ points: [SyncObjectPoint], timeoutNanoseconds: UInt64) throws(MagmaError) -> Int {
        let perObject = try corePoints(points)
        let ready = try SyncWait.any(perObject.flatMap(\.self), timeoutNanoseconds: timeoutNanoseconds)
        // The core points of one object share its state; any of them reached stands for it.
        var first = 0
        for (index, objectPoints) in perObject.enumerated() {
            if ready[first..<first + objectPoints.count].contains(true) { return index }
            first += objectPoints.count
        }
        throw .internalError("a wait for any point ended with none reached")
    }

    /// Waits until every one of the binary sync objects `objects` is signaled:
    /// `waitAll(_:timeoutNanoseconds:)` of their points (INVALID_ARGS for a timeline: name its
    /// point).
    public static func waitAll(_ objects: [SyncObject], timeoutNanoseconds: UInt64) throws(MagmaError) {
        try waitAll(try binaryPoints(objects), timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Waits until at least one of the binary sync objects `objects` is signaled and returns
    /// the index of the first signaled one: `waitAny(_:timeoutNanoseconds:)` of their points.
    public static func waitAny(_ objects: [SyncObject], timeoutNanoseconds: UInt64) throws(MagmaError) -> Int {
        try waitAny(try binaryPoints(objects), timeoutNanoseconds: timeoutNanoseconds)
    }

    /// The core's points for each of `points`, checked.
    private static func corePoints(_ points: [SyncObjectPoint]) throws(MagmaError) -> [[SyncPoint]] {
        guard !points.isEmpty else { throw .invalidArgs("no sync objects to wait for") }
        return try points.map { (point) throws(MagmaError) -> [SyncPoint] in
            try point.syncObject.check(point: point.value)
            return point.syncObject.waitPoints(point.value)
        }
    }

    private static func binaryPoints(_ objects: [SyncObject]) throws(MagmaError) -> [SyncObjectPoint] {
        try objects.map { (object) throws(MagmaError) -> SyncObjectPoint in
            guard !object.kind.isTimeline else { throw .invalidArgs("a timeline sync object in a wait for binary ones: name its point") }
            return object.point()
        }
    }
}
