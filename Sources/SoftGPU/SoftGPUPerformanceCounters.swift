import MagmaPlatform
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

final class SoftGPUPerformanceCounters: MsdPerformanceCounters {
    private let engine: Engine
    /// What each counter read when it was last cleared.
    private let baselines = Locked([UInt64](repeating: 0, count: SoftGPUCounter.allCases.count))

    init(engine: Engine) { self.engine = engine }

    var count: Int { SoftGPUCounter.allCases.count }

    func value(_ index: Int) -> UInt64 {
        raw(index) &- baselines.withLock { $0[index] }
    }

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
