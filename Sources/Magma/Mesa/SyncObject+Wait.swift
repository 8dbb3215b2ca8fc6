import MagmaPlatform
import MagmaProtocol

extension SyncObject {
    /// Waits until every one of `points` is reached (a binary sync object signaled, a
    /// timeline's value at or above its point), or `timeoutNanoseconds` passes (`UInt64.max`
    /// waits forever); resets none. INVALID_ARGS for an empty list, a released object or a
    /// binary one's point other than 0; TIMED_OUT when one is not reached; CONTEXT_KILLED once
    /// work that was to signal a timeline of the list failed; and the error of a failed address
    /// space that uses one of them (work that fails signals nothing): at once for one that used
    /// it when the wait began, within `waitSliceNanoseconds` for one that started to meanwhile.
    public static func waitAll(_ points: [SyncObjectPoint], timeoutNanoseconds: UInt64) throws(MagmaError) {
        try inSlices(timeoutNanoseconds) { (slice) throws(MagmaError) in
            try SyncWait.all(try corePoints(points).flatMap(\.self), timeoutNanoseconds: slice)
        }
    }

    /// How long one slice of a wait lasts at most. A wait watches the address spaces that use
    /// its objects when the slice begins (their failure ends it at once); one that starts using
    /// an object while the wait runs (a queue submits with it) is watched from the next slice,
    /// so its failure ends the wait within this bound.
    static let waitSliceNanoseconds: UInt64 = 100_000_000

    /// Runs `wait` in slices of at most `waitSliceNanoseconds` until it returns or throws
    /// something other than TIMED_OUT, or `timeoutNanoseconds` has passed (`UInt64.max`:
    /// never); each slice collects the objects' core points anew.
    private static func inSlices<Result>(_ timeoutNanoseconds: UInt64,
                                         _ wait: (UInt64) throws(MagmaError) -> Result) throws(MagmaError) -> Result {
        let start = Clock.monotonicNanoseconds()
        while true {
            let elapsed = Clock.monotonicNanoseconds() &- start
            let remaining = timeoutNanoseconds == .max ? UInt64.max : timeoutNanoseconds &- min(elapsed, timeoutNanoseconds)
            let slice = min(remaining, waitSliceNanoseconds)
            do throws(MagmaError) {
                return try wait(slice)
            } catch {
                guard error.status == .timedOut, slice < remaining else { throw error }
            }
        }
    }

    /// Waits until at least one of `points` is reached, or `timeoutNanoseconds` passes, and
    /// returns the index of the first reached one; resets none. Errors as
    /// `waitAll(_:timeoutNanoseconds:)`.
    public static func waitAny(_ points: [SyncObjectPoint], timeoutNanoseconds: UInt64) throws(MagmaError) -> Int {
        let (perObject, ready) = try inSlices(timeoutNanoseconds) { (slice) throws(MagmaError) -> ([[SyncPoint]], [Bool]) in
            let perObject = try corePoints(points)
            return (perObject, try SyncWait.any(perObject.flatMap(\.self), timeoutNanoseconds: slice))
        }
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
