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

/// The virtio ring rows run both transports and the raw floors to completion (the ring's
/// records all applied by the host: `waitApplied` throws otherwise; the same-work floor's
/// payloads all applied by its device model: it throws otherwise).
@Suite(.hangGuard) struct VirtioRingBenchmarkTests {
    @Test func theVirtioRingRowsRunBothTransportsAndTheFloor() throws {
        let socket = try VirtioRingVersusSocket(operations: 500)
        defer { socket.close() }
        let result = try BenchmarkRunner(runs: 2).measure(socket)
        #expect(result.magma != nil && result.floor != nil)
        #expect(socket.countRows().first?.path.contains("1500 submissions") == true)
        let raw = try VirtioRingVersusRawRing(operations: 500)
        defer { raw.close() }
        let floor = try BenchmarkRunner(runs: 2).measure(raw)
        #expect(floor.magma != nil && floor.floor != nil)
        let bytes = try VirtioRingVersusRawBytes(operations: 500)
        defer { bytes.close() }
        let bytesFloor = try BenchmarkRunner(runs: 2).measure(bytes)
        #expect(bytesFloor.magma != nil && bytesFloor.floor != nil)
    }
}
