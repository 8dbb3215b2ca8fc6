@testable import MagmaBench
import Testing

/// The benchmark runner's bookkeeping (never its timings): warm-up excluded, both sides run the
/// same number of times, medians, ratios and the table.
@Suite struct BenchmarkRunnerTests {
    final class CountingPath: BenchmarkPath {
        let name = "counting"
        let unit = "op"
        let operations = 10
        var magmaRuns = 0
        var floorRuns = 0
        var closed = false
        func runMagma() throws { magmaRuns += 1 }
        func runFloor() throws { floorRuns += 1 }
        func close() { closed = true }
    }

    @Test func warmUpThenAlternatingRunsThenClose() throws {
        let path = CountingPath()
        let result = try BenchmarkRunner(runs: 5).measure(path)
        #expect(path.magmaRuns == 6 && path.floorRuns == 6, "one warm-up each, then 5 measured")
        #expect(path.closed)
        #expect(result.path == "counting" && result.unit == "op")
        #expect(result.magma != nil && result.floor != nil && result.ratio != nil)
    }

    @Test func mediansAndRatios() {
        #expect(BenchmarkRunner.median([5, 1, 3]) == 3)
        #expect(BenchmarkRunner.median([4, 1, 3, 2]) == 2.5)
        #expect(BenchmarkResult(path: "p", unit: "u", magma: 300, floor: 100).ratio == 3)
        #expect(BenchmarkResult(path: "p", unit: "bytes", bytes: 12).ratio == nil)
    }

    @Test func tableRows() {
        let table = BenchmarkSuite.table([
            BenchmarkResult(path: "query", unit: "round trip", magma: 2_500, floor: 1_000),
            BenchmarkResult(path: "memory", unit: "bytes", bytes: 4096),
        ])
        #expect(table.contains("| query | 2.5 µs per round trip | 1.0 µs | 2.50 |"))
        #expect(table.contains("| memory | 4096 bytes | — | — |"))
    }
}
