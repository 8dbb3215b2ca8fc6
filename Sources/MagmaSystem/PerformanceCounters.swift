import MagmaPlatform
import MagmaProtocol

/// A device's hardware performance counters. Values are device-wide: they count all work since
/// the device started or the counter was last cleared.
public protocol MsdPerformanceCounters: Sendable {
    /// How many counters there are; counter `i` is bit `i % 64` of word `i / 64` of a counter set.
    var count: Int { get }
    /// The current value of counter `index`.
    func value(_ index: Int) -> UInt64
    /// Sets counter `index` to zero.
    func clear(_ index: Int)
}

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

/// Receives the completion events of one performance-counter pool.
public protocol PerformanceCounterEventSink: Sendable {
    func readCompleted(_ completion: PerformanceCounterCompletion)
}

/// A pool of buffer ranges that dumps are written into, taken in the order they were added.
struct PerformanceCounterPool {
    struct Slot {
        let bufferId: ObjectId
        let memory: SharedMemory
        let offset: UInt64
        let length: UInt64
    }

    let sink: any PerformanceCounterEventSink
    var slots: [Slot] = []
}
