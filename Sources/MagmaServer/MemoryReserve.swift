import MagmaPlatform
import MagmaProtocol
import Synchronization

/// Memory the server keeps in reserve (issue 20): while its `MemoryGauge` says less than
/// `reserveBytes` is available, newcomers are refused with MEMORY_ERROR (a new connection, a
/// new session) and what is served goes on (a served connection's imports stay bounded by its
/// accounts: refusing one would close that connection, losing its work, for a shortage that may
/// pass); once memory is back above the reserve, newcomers are taken again. The gauge is sampled at most once per `sampleNanoseconds`
/// (one caller samples, the others use the last sample), never under a lock of the server's.
public final class MemoryReserve: Sendable {
    /// Bytes the server keeps free; 0 turns the reserve off.
    public let reserveBytes: UInt64
    private let gauge: any MemoryGauge
    private let sampleNanoseconds: UInt64
    private let available = Atomic<UInt64>(.max)
    private let nextSample = Atomic<UInt64>(0)

    /// A reserve of `reserveBytes` measured by `gauge`.
    public init(reserveBytes: UInt64, gauge: any MemoryGauge = SystemMemoryGauge(), sampleNanoseconds: UInt64 = 100_000_000) {
        self.reserveBytes = reserveBytes
        self.gauge = gauge
        self.sampleNanoseconds = sampleNanoseconds
    }

    /// MEMORY_ERROR for `what` if memory is below the reserve now; nil if the work may go on.
    public func refusal(_ what: @autoclosure () -> String) -> MagmaError? {
        guard reserveBytes > 0 else { return nil }
        let now = Clock.monotonicNanoseconds()
        let due = nextSample.load(ordering: .acquiring)
        if now >= due, nextSample.compareExchange(expected: due, desired: now &+ sampleNanoseconds, ordering: .acquiringAndReleasing).exchanged {
            available.store(gauge.availableBytes() ?? .max, ordering: .releasing)
        }
        let bytes = available.load(ordering: .acquiring)
        guard bytes < reserveBytes else { return nil }
        return .memoryError("\(what()) refused: memory is short (\(bytes >> 20) MiB available, below the reserve of \(reserveBytes >> 20) MiB)")
    }
}
