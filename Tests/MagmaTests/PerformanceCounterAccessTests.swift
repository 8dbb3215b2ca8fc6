import Magma
import MagmaTestSupport
import MagmaPlatform
import MagmaProtocol
import SoftGPU
import Testing

/// Who may read performance counters, as Fuchsia's system driver decides it: every connection
/// starts without access, embedded (trusted) or through magmad; only the device's token grants
/// it. A counter call without access is feed-forward: it returns, and the connection closes with
/// ACCESS_DENIED, which flush reports.
@Suite(.hangGuard, .drmBackend(.skipped(.performanceCounters))) struct PerformanceCounterAccessTests {
    private let devices = TestDevices()
    static let allCounters: [UInt64] = [SoftGPUCounter.allCases.reduce(0) { $0 | $1.bit }]

    /// A counter call made without access.
    enum CounterCall: String, CaseIterable, CustomTestStringConvertible {
        case enableCounters, clearCounters, createPool

        var testDescription: String { rawValue }

        func make(on connection: Connection) throws {
            switch self {
            case .enableCounters: try connection.enablePerformanceCounters(PerformanceCounterAccessTests.allCounters)
            case .clearCounters: try connection.clearPerformanceCounters(PerformanceCounterAccessTests.allCounters)
            case .createPool: _ = try connection.createPerformanceCounterPool()
            }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func aFreshConnectionHasNoAccess(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        #expect(try session.connection.isPerformanceCounterAccessAllowed() == false)
        try session.connection.enablePerformanceCounterAccess(token: try #require(try SharedMemory.create(size: 1).descriptor).duplicate())
        #expect(try session.connection.isPerformanceCounterAccessAllowed() == false, "a stranger's token is ignored")
        try session.connection.flush()
    }

    @Test(arguments: TestBackend.allCases, CounterCall.allCases)
    func aCallWithoutAccessClosesOnlyItsConnection(_ backend: TestBackend, _ call: CounterCall) throws {
        let session = try devices.session(backend)
        let bystander = try session.device.createConnection()
        defer { bystander.release() }
        try call.make(on: session.connection)   // returns: the verdict comes later
        expectStatus(.accessDenied) { try session.connection.flush() }
        #expect(session.connection.error?.status == .accessDenied)
        expectStatus(.accessDenied) { _ = try session.connection.createBuffer(size: 4096) }   // closed

        try bystander.flush()
        try bystander.enablePerformanceCounterAccess(token: try session.device.performanceCounterToken())
        try bystander.enablePerformanceCounters(Self.allCounters)
        try bystander.flush()
    }

    @Test(arguments: TestBackend.allCases)
    func theTokenGrantsAccessAndCountersWork(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        try session.connection.enablePerformanceCounterAccess(token: try session.device.performanceCounterToken())
        #expect(try session.connection.isPerformanceCounterAccessAllowed())
        try session.connection.enablePerformanceCounters(Self.allCounters)
        try session.connection.clearPerformanceCounters(Self.allCounters)
        let (_, address) = try session.mappedBuffer(size: 8192)
        try session.fill(address: address, size: 8192, pattern: 5)

        let pool = try session.connection.createPerformanceCounterPool()
        let slot = try session.connection.createBuffer(size: 4096)
        try session.connection.addPerformanceCounterRanges([BufferRange(bufferId: slot.id, offset: 0, length: 32)], to: pool)
        try session.connection.dumpPerformanceCounters(into: pool, triggerId: 3)
        try Poll.wait([.descriptor(pool.eventDescriptor)], timeoutNanoseconds: 10_000_000_000)
        let completion = try #require(try pool.nextCompletion())
        #expect(completion.triggerId == 3 && completion.bufferId == slot.id)
        #expect(try slot.contents.load(fromByteOffset: 8 * SoftGPUCounter.bytesWritten.rawValue, as: UInt64.self) == 8192)
        try session.connection.flush()
    }
}
