import MagmaPlatform
import MagmaProtocol

/// A selection of counters: a bit set over counter indices, as the protocol's
/// `vector<u64>` counter sets carry it (word `w`, bit `b` selects counter `64w + b`).
public struct PerformanceCounterSet: Equatable, Sendable {
    /// The selected indices, ascending.
    public let indices: [Int]

    /// Reads a bit set; INVALID_ARGS if it selects a counter the device does not have.
    public init(words: [UInt64], counterCount: Int) throws(MagmaError) {
        var indices: [Int] = []
        for (word, bits) in words.enumerated() {
            var remaining = bits
            while remaining != 0 {
                let index = word * 64 + remaining.trailingZeroBitCount
                guard index < counterCount else { throw .invalidArgs("counter \(index): the device has \(counterCount)") }
                indices.append(index)
                remaining &= remaining - 1
            }
        }
        self.indices = indices
    }

    /// Nothing selected.
    public static let empty = try! PerformanceCounterSet(words: [], counterCount: 0)
}

/// Receives the completion events of one performance-counter pool: the pool's event channel,
/// which MagmaSystem keeps (the driver keeps the pool's ranges).
public protocol PerformanceCounterEventSink: Sendable {
    /// Reports one dump. Called on the thread of the dump request, after the connection's lock
    /// is released; must not block.
    func readCompleted(_ completion: PerformanceCounterCompletion)
}

/// A pool as MagmaSystem holds it: the driver's pool and the pool's event channel.
struct PerformanceCounterPoolEntry {
    let pool: any MsdPerformanceCounterPool
    let sink: any PerformanceCounterEventSink
}

extension MsdConnection {
    /// A device without performance counters: UNIMPLEMENTED.
    public func enablePerformanceCounters(_ counters: [UInt64]) throws(MagmaError) { throw Self.noCounters }

    /// A device without performance counters: UNIMPLEMENTED.
    public func clearPerformanceCounters(_ counters: [UInt64]) throws(MagmaError) { throw Self.noCounters }

    /// A device without performance counters: UNIMPLEMENTED.
    public func createPerformanceCounterPool(id: UInt64) throws(MagmaError) -> any MsdPerformanceCounterPool { throw Self.noCounters }

    /// A device without performance counters never made a pool.
    public func releasePerformanceCounterPool(_ pool: any MsdPerformanceCounterPool) {}

    /// A device without performance counters: UNIMPLEMENTED.
    public func addPerformanceCounterRange(to pool: any MsdPerformanceCounterPool, buffer: any MsdBuffer, bufferId: ObjectId,
                                           offset: UInt64, length: UInt64) throws(MagmaError) { throw Self.noCounters }

    /// A device without performance counters never made a pool.
    public func removePerformanceCounterBuffer(from pool: any MsdPerformanceCounterPool, bufferId: ObjectId) {}

    /// A device without performance counters: UNIMPLEMENTED.
    public func dumpPerformanceCounters(_ pool: any MsdPerformanceCounterPool,
                                        triggerId: UInt32) throws(MagmaError) -> PerformanceCounterCompletion? { throw Self.noCounters }

    private static var noCounters: MagmaError { .unimplemented("this device has no performance counters") }
}
