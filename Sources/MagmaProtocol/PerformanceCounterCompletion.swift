/// A performance-counter dump that has been written into a buffer range of a pool.
public struct PerformanceCounterCompletion: Hashable, Sendable {
    /// The trigger id the client gave the dump.
    public var triggerId: UInt32
    /// The buffer written.
    public var bufferId: ObjectId
    /// Where in the buffer the values start: one little-endian u64 per enabled counter, in
    /// counter order.
    public var bufferOffset: UInt32
    /// CLOCK_MONOTONIC nanoseconds when the counters were sampled.
    public var timestamp: UInt64
    /// `.discontinuity` if samples were missed.
    public var flags: PerformanceCounterResultFlags

    public init(triggerId: UInt32, bufferId: ObjectId, bufferOffset: UInt32, timestamp: UInt64, flags: PerformanceCounterResultFlags) {
        self.triggerId = triggerId
        self.bufferId = bufferId
        self.bufferOffset = bufferOffset
        self.timestamp = timestamp
        self.flags = flags
    }
}
