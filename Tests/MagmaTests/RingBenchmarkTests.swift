@testable import MagmaBench
import Testing

/// The ring's benchmark path does what its rows say (never its timings): every record reaches
/// the awake consumer on both sides, and the steady stream rings no doorbell.
@Suite(.hangGuard) struct RingBenchmarkTests {
    @Test(arguments: [64, 1024]) func theRingRowsRunAndCountNoPings(payloadBytes: Int) throws {
        let path = try RingThroughput(operations: 2_000, payloadBytes: payloadBytes, ringSize: 4096)
        let result = try BenchmarkRunner(runs: 3).measure(path)
        #expect(result.magma != nil && result.floor != nil)
        let counts = path.countRows()
        #expect(counts.count == 1)
        #expect(counts.first?.count == "0", "pings during a steady stream to an awake consumer")
        #expect(counts.first?.path.contains("8000 records") == true)   // 4 runs of 2,000: the warm-up's too
    }
}
