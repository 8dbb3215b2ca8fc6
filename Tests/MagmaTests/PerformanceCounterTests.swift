import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// SoftGPU's performance counters through Magma's calls: exact counts, clearing, pools, and
/// access only for clients that present the device's token.
@Suite(.hangGuard, .drmBackend(.skipped(.performanceCounters))) struct PerformanceCounterTests {
    private let devices = TestDevices()
    static let allCounters: [UInt64] = [SoftGPUCounter.allCases.reduce(0) { $0 | $1.bit }]

    /// Dumps every counter into a new pool range and returns the values in counter order.
    private func dump(_ session: GPUSession, trigger: UInt32) throws -> [UInt64] {
        let pool = try session.connection.createPerformanceCounterPool()
        let slot = try session.connection.createBuffer(size: 4096)
        try session.connection.addPerformanceCounterRanges([BufferRange(bufferId: slot.id, offset: 128, length: 64)], to: pool)
        try session.connection.dumpPerformanceCounters(into: pool, triggerId: trigger)
        try Poll.wait([.descriptor(pool.eventDescriptor)], timeoutNanoseconds: 5_000_000_000)
        let completion = try #require(try pool.nextCompletion())
        #expect(completion.triggerId == trigger)
        #expect(completion.bufferId == slot.id)
        #expect(completion.bufferOffset == 128)
        #expect(completion.timestamp > 0 && completion.flags.isEmpty)
        #expect(try pool.nextCompletion() == nil)
        try session.connection.release(pool)
        let words = try slot.contents
        return (0..<SoftGPUCounter.allCases.count).map { words.load(fromByteOffset: 128 + 8 * $0, as: UInt64.self) }
    }

    @Test(arguments: TestBackend.allCases)
    func countsOfAKnownProgramAreExact(_ backend: TestBackend) throws {
        let session = try devices.session(backend, own: SoftGPUConfiguration())
        try session.connection.enablePerformanceCounterAccess(token: try session.device.performanceCounterToken())
        try session.connection.enablePerformanceCounters(Self.allCounters)
        try session.connection.clearPerformanceCounters(Self.allCounters)
        let count = 1024
        var (stream, _) = try session.vectorAdd(count: count, x: { Float($0) }, y: { _ in 1 })
        let (_, scratch) = try session.mappedBuffer(size: 3 * 4096)
        stream.fill(address: scratch, size: 4096, pattern: 1)
        stream.copy(from: scratch, to: scratch + 4096, size: 4096)
        stream.timestamp(address: scratch + 8192)
        stream.end()
        try session.run(stream)
        let values = try dump(session, trigger: 5)
        // 32 waves run the 11 instructions of vectorAddF32 (every wave has lanes in range).
        #expect(values[SoftGPUCounter.instructions.rawValue] == 32 * 11)
        // Two loads of 4 bytes per lane, and the copy's source.
        #expect(values[SoftGPUCounter.bytesRead.rawValue] == UInt64(2 * 4 * count + 4096))
        // A store of 4 bytes per lane, the fill, the copy's destination and the timestamp.
        #expect(values[SoftGPUCounter.bytesWritten.rawValue] == UInt64(4 * count + 4096 + 4096 + 8))
        #expect(values[SoftGPUCounter.busyNanoseconds.rawValue] > 0)

        try session.connection.clearPerformanceCounters([SoftGPUCounter.instructions.bit])
        let cleared = try dump(session, trigger: 6)
        #expect(cleared[SoftGPUCounter.instructions.rawValue] == 0)
        #expect(cleared[SoftGPUCounter.bytesRead.rawValue] == values[SoftGPUCounter.bytesRead.rawValue])
        try session.connection.flush()
    }

    @Test func onlyClientsWithTheTokenReadCounters() throws {
        let server = try TestServer()
        let untrusted = try server.session()
        try untrusted.connection.enablePerformanceCounters(Self.allCounters)
        expectStatus(.accessDenied) { try untrusted.connection.flush() }

        let allowed = try server.session()
        try allowed.connection.enablePerformanceCounterAccess(token: try allowed.device.performanceCounterToken())
        #expect(try allowed.connection.isPerformanceCounterAccessAllowed())
        try allowed.connection.enablePerformanceCounters(Self.allCounters)
        try allowed.connection.clearPerformanceCounters(Self.allCounters)
        let (_, address) = try allowed.mappedBuffer(size: 8192)
        try allowed.fill(address: address, size: 8192, pattern: 3)
        let values = try dump(allowed, trigger: 9)
        #expect(values[SoftGPUCounter.bytesWritten.rawValue] == 8192)
        #expect(values[SoftGPUCounter.instructions.rawValue] == 0)
    }

    @Test(arguments: TestBackend.allCases)
    func selectingAnUnknownCounterClosesTheConnection(_ backend: TestBackend) throws {
        let session = try devices.session(backend, own: SoftGPUConfiguration())
        try session.connection.enablePerformanceCounterAccess(token: try session.device.performanceCounterToken())
        try session.connection.enablePerformanceCounters([0, 1])   // counter 64: SoftGPU has 4
        expectStatus(.invalidArgs) { try session.connection.flush() }
    }

    @Test(arguments: TestBackend.allCases)
    func poolsCheckTheirRanges(_ backend: TestBackend) throws {
        let session = try devices.session(backend, own: SoftGPUConfiguration())
        try session.connection.enablePerformanceCounterAccess(token: try session.device.performanceCounterToken())
        try session.connection.enablePerformanceCounters(Self.allCounters)
        let pool = try session.connection.createPerformanceCounterPool()
        let slot = try session.connection.createBuffer(size: 4096)
        try session.connection.addPerformanceCounterRanges([BufferRange(bufferId: slot.id, offset: 4000, length: 200)], to: pool)
        expectStatus(.invalidArgs) { try session.connection.flush() }   // past the buffer's end

        let small = try devices.session(backend, own: SoftGPUConfiguration())
        try small.connection.enablePerformanceCounterAccess(token: try small.device.performanceCounterToken())
        try small.connection.enablePerformanceCounters(Self.allCounters)
        let smallPool = try small.connection.createPerformanceCounterPool()
        let buffer = try small.connection.createBuffer(size: 4096)
        try small.connection.addPerformanceCounterRanges([BufferRange(bufferId: buffer.id, offset: 0, length: 16)], to: smallPool)
        try small.connection.dumpPerformanceCounters(into: smallPool, triggerId: 1)
        expectStatus(.invalidArgs) { try small.connection.flush() }     // 16 bytes cannot hold 4 counters
    }
}
