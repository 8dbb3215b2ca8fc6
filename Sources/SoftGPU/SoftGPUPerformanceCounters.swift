import MagmaPlatform
import MagmaProtocol
import MagmaSystem

/// SoftGPU's performance counters, device-wide and exact (docs/softgpu.md):
///
/// | index | counter |
/// |---|---|
/// | 0 | wave instructions executed |
/// | 1 | bytes read from GPU memory |
/// | 2 | bytes written to GPU memory |
/// | 3 | nanoseconds the engine was busy |
public enum SoftGPUCounter: Int, CaseIterable, Sendable {
    case instructions = 0
    case bytesRead = 1
    case bytesWritten = 2
    case busyNanoseconds = 3

    /// The bit that selects this counter in word 0 of a counter set.
    public var bit: UInt64 { 1 << UInt64(rawValue) }
}

/// The device's counters: each counts all work since the device started or the counter was
/// last cleared.
final class SoftGPUPerformanceCounters: Sendable {
    private let engine: Engine
    /// What each counter read when it was last cleared.
    private let baselines = Locked([UInt64](repeating: 0, count: SoftGPUCounter.allCases.count))

    init(engine: Engine) { self.engine = engine }

    /// How many counters there are.
    var count: Int { SoftGPUCounter.allCases.count }

    /// The current value of counter `index`.
    func value(_ index: Int) -> UInt64 {
        raw(index) &- baselines.withLock { $0[index] }
    }

    /// Sets counter `index` to zero.
    func clear(_ index: Int) {
        let now = raw(index)
        baselines.withLock { $0[index] = now }
    }

    private func raw(_ index: Int) -> UInt64 {
        switch SoftGPUCounter(rawValue: index) {
        case .instructions: engine.counters.instructions
        case .bytesRead: engine.counters.bytesRead
        case .bytesWritten: engine.counters.bytesWritten
        case .busyNanoseconds: engine.busyNanoseconds
        case nil: 0
        }
    }
}

/// A SoftGPU pool: the ranges dumps are written into, oldest first. A range keeps its buffer
/// alive, even after MagmaSystem released it.
final class SoftGPUCounterPool: MsdPerformanceCounterPool {
    struct Range {
        let buffer: SoftGPUBuffer
        let bufferId: ObjectId
        let offset: UInt64
        let length: UInt64
    }

    let ranges = Locked<[Range]>([])

    /// The SoftGPU pool MagmaSystem hands back.
    static func of(_ pool: any MsdPerformanceCounterPool) -> SoftGPUCounterPool {
        guard let pool = pool as? SoftGPUCounterPool else { preconditionFailure("MagmaSystem passed SoftGPU a pool it did not make") }
        return pool
    }
}

/// Performance counters of one connection: the counters its dumps write, and its pools.
extension SoftGPUConnection {
    func enablePerformanceCounters(_ counters: [UInt64]) throws(MagmaError) {
        let selection = try PerformanceCounterSet(words: counters, counterCount: self.counters.count)
        enabledCounters.withLock { $0 = selection }
    }

    func clearPerformanceCounters(_ counters: [UInt64]) throws(MagmaError) {
        try PerformanceCounterSet(words: counters, counterCount: self.counters.count).indices.forEach(self.counters.clear)
    }

    func createPerformanceCounterPool(id: UInt64) throws(MagmaError) -> any MsdPerformanceCounterPool { SoftGPUCounterPool() }

    func releasePerformanceCounterPool(_ pool: any MsdPerformanceCounterPool) {
        SoftGPUCounterPool.of(pool).ranges.withLock { $0 = [] }
    }

    func addPerformanceCounterRange(to pool: any MsdPerformanceCounterPool, buffer: any MsdBuffer, bufferId: ObjectId,
                                    offset: UInt64, length: UInt64) throws(MagmaError) {
        let range = SoftGPUCounterPool.Range(buffer: SoftGPUBuffer.of(buffer), bufferId: bufferId, offset: offset, length: length)
        SoftGPUCounterPool.of(pool).ranges.withLock { $0.append(range) }
    }

    func removePerformanceCounterBuffer(from pool: any MsdPerformanceCounterPool, bufferId: ObjectId) {
        SoftGPUCounterPool.of(pool).ranges.withLock { $0.removeAll { $0.bufferId == bufferId } }
    }

    /// Writes the enabled counters, one little-endian u64 each in counter order, into the
    /// pool's oldest range at once.
    func dumpPerformanceCounters(_ pool: any MsdPerformanceCounterPool, triggerId: UInt32) throws(MagmaError) -> PerformanceCounterCompletion? {
        let enabled = enabledCounters.withLock { $0.indices }
        return try SoftGPUCounterPool.of(pool).ranges.withLock { ranges throws(MagmaError) -> PerformanceCounterCompletion? in
            guard let range = ranges.first else { return nil }
            guard range.length >= UInt64(8 * enabled.count) else {
                throw .invalidArgs("a counter range of \(range.length) bytes cannot hold \(enabled.count) counters")
            }
            ranges.removeFirst()
            let timestamp = Clock.monotonicNanoseconds()
            for (position, index) in enabled.enumerated() {
                range.buffer.memory.base.storeBytes(of: counters.value(index).littleEndian, toByteOffset: Int(range.offset) + 8 * position,
                                                    as: UInt64.self)
            }
            return PerformanceCounterCompletion(triggerId: triggerId, bufferId: range.bufferId, bufferOffset: UInt32(range.offset),
                                                timestamp: timestamp, flags: [])
        }
    }
}
