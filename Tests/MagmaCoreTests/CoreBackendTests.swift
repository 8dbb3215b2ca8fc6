@testable import Magma
import MagmaProtocol
import MagmaTestSupport
import Testing

/// The core with no backend linked: the public API's calls reach the backend protocol as
/// `ConnectionBackend` documents them, through a backend that records them.
@Suite(.hangGuard) struct CoreBackendTests {
    let backend: RecordingBackend
    let connection: Connection

    init() throws {
        backend = try RecordingBackend()
        connection = try Device(backend: backend).createConnection()
    }

    @Test func idsAreTheBackends() throws {
        let buffer = try connection.createBuffer(size: 4096, name: "b")
        let semaphore = try connection.createSemaphore()
        let context = try connection.createContext(priority: .low)
        #expect(buffer.id == 100 && semaphore.id == 101 && context.id == 7)
        try connection.map(buffer, at: 0x10000, flags: [.read])
        try connection.execute(on: context, CommandDescriptor(resources: [], commandBuffers: [], waitSemaphores: [semaphore.id], signalSemaphores: [semaphore.id]))
        #expect(backend.calls == ["connect", "createBuffer(4096,0,b)", "createSemaphore", "createContext(\(Priority.low.rawValue))",
                                  "map(100,65536,0,4096,\(MapFlags.read.rawValue))", "execute(7,wait:[101],signal:[101])"])
    }

    @Test func aSynchronousErrorIsThrownAndLeavesTheConnectionUsable() throws {
        let buffer = try connection.createBuffer(size: 4096)
        backend.throwOnNextCall(.invalidArgs("the kernel said EINVAL"))
        #expect(throws: MagmaError(.invalidArgs, "")) { try connection.map(buffer, at: 0x10000, flags: [.read]) }
        #expect(connection.error == nil)
        try connection.map(buffer, at: 0x10000, flags: [.read])
        try connection.flush()
    }

    @Test func aStickyErrorEndsEveryLaterCallBeforeTheBackend() throws {
        let buffer = try connection.createBuffer(size: 4096)
        backend.failSticky(MagmaError(.badState, "released in flight"))
        let before = backend.calls.count
        #expect(throws: MagmaError(.badState, "")) { try connection.map(buffer, at: 0, flags: [.read]) }
        #expect(throws: MagmaError(.badState, "")) { _ = try connection.createSemaphore() }
        #expect(throws: MagmaError(.badState, "")) { try connection.release(buffer) }
        #expect(backend.calls.count == before)
        #expect(throws: MagmaError(.badState, "")) { try connection.flush() }
        #expect(connection.error?.status == .badState)
    }

    @Test func pollOnAFailedConnectionIsConnectionLost() throws {
        backend.failSticky(MagmaError(.contextKilled, "fault"))
        #expect(throws: MagmaError(.connectionLost, "")) {
            try Poll.wait([.notifications(connection)], timeoutNanoseconds: 1_000_000_000)
        }
    }

    @Test func pollWaitsOnTheBackendsSemaphores() throws {
        let semaphore = try connection.createSemaphore()
        #expect(throws: MagmaError(.timedOut, "")) { try Poll.wait([.semaphore(semaphore)], timeoutNanoseconds: 0) }
        semaphore.signal()
        #expect(try Poll.wait([.semaphore(semaphore)], timeoutNanoseconds: 1_000_000_000) == [true])
    }

    @Test func ownershipErrorsNeverReachTheBackend() throws {
        let other = try Device(backend: backend).createConnection()
        let buffer = try connection.createBuffer(size: 4096)
        let context = try connection.createContext()
        let otherPool = try other.createPerformanceCounterPool()
        let before = backend.calls.count
        #expect(throws: MagmaError(.invalidArgs, "")) { try other.removePerformanceCounterBuffer(buffer, from: otherPool) }
        #expect(throws: MagmaError(.invalidArgs, "")) { try other.release(buffer) }
        #expect(throws: MagmaError(.invalidArgs, "")) { try other.map(buffer, at: 0, flags: [.read]) }
        #expect(throws: MagmaError(.invalidArgs, "")) { try other.execute(on: context, CommandDescriptor(resources: [], commandBuffers: [])) }
        #expect(backend.calls.count == before)
        try connection.release(buffer)
        #expect(throws: MagmaError(.invalidArgs, "")) { try connection.release(buffer) }
        #expect(backend.calls.suffix(1) == ["releaseBuffer(100)"])
    }

    @Test func aConnectionFailedByTheClientReportsThatFailureEverywhere() throws {
        let buffer = try connection.createBuffer(size: 4096)
        connection.fail(.invalidArgs("unmap of unknown buffer 9"))
        connection.fail(.badState("a later misuse"))
        #expect(backend.closes == 1)
        #expect(connection.error?.status == .invalidArgs)
        #expect(throws: MagmaError(.invalidArgs, "")) { try connection.flush() }
        #expect(throws: MagmaError(.invalidArgs, "")) { try connection.map(buffer, at: 0, flags: [.read]) }
        #expect(throws: MagmaError(.connectionLost, "")) { _ = try connection.readNotification() }
        #expect(throws: MagmaError(.connectionLost, "")) { try Poll.wait([.notifications(connection)], timeoutNanoseconds: 0) }
        // The buffer is released with the failed connection: a second release is a misuse.
        #expect(throws: MagmaError(.invalidArgs, "")) { try connection.release(buffer) }
        #expect(buffer.isReleased)
        #expect(throws: MagmaError(.invalidArgs, "already released")) { try connection.release(buffer) }
    }

    @Test func argumentsTheApiDefinesAreCheckedInTheCore() throws {
        #expect(throws: MagmaError(.invalidArgs, "")) { _ = try connection.createBuffer(size: 0) }
        #expect(backend.calls == ["connect"])
    }

    @Test func aReleasedConnectionIsBadStateAndClosedOnce() throws {
        connection.release()
        connection.release()
        #expect(backend.closes == 1)
        #expect(throws: MagmaError(.badState, "")) { _ = try connection.createBuffer(size: 4096) }
        #expect(throws: MagmaError(.badState, "")) { _ = try connection.readNotification() }
    }

    @Test func buffersMapForTheCpuThroughTheBackend() throws {
        let buffer = try connection.createBuffer(size: 4096)
        let bytes = try buffer.bytes
        bytes.storeBytes(of: 0xABCD_1234, as: UInt32.self)
        #expect(try buffer.contents.load(as: UInt32.self) == 0xABCD_1234)
        #expect(try buffer.bytes.baseAddress == bytes.baseAddress)
        #expect(buffer.info == BufferInfo(committedByteCount: 4096, size: 4096))
        #expect(throws: MagmaError(.unimplemented, "")) { _ = try buffer.export() }
    }

    @Test func deviceCallsReachTheBackend() throws {
        let device = Device(backend: backend)
        #expect(try device.queryValue(.vendorId) == QueryId.vendorId.rawValue + 1)
        #expect(throws: MagmaError(.accessDenied, "")) { _ = try device.performanceCounterToken() }
    }

    @Test func performanceCounterPoolsAreTheBackends() throws {
        let pool = try connection.createPerformanceCounterPool()
        let buffer = try connection.createBuffer(size: 4096)
        try connection.addPerformanceCounterRanges([BufferRange(bufferId: buffer.id, offset: 0, length: 4096)], to: pool)
        try connection.dumpPerformanceCounters(into: pool, triggerId: 9)
        try connection.release(pool)
        #expect(try pool.nextCompletion() == nil)
        #expect(backend.calls == ["connect", "createPerformanceCounterPool", "createBuffer(4096,0,)", "addRanges(100,[101])",
                                  "dump(100,9)", "releasePool(100)"])
        #expect(throws: MagmaError(.invalidArgs, "")) { try connection.dumpPerformanceCounters(into: pool, triggerId: 10) }
    }
}

/// A backend's buffers are mapped for the CPU only when the client asks.
@Suite(.hangGuard) struct CoreCpuMappingTests {
    @Test func creatingABufferDoesNotMapIt() throws {
        let backend = try RecordingBackend()
        let buffer = try Device(backend: backend).createConnection().createBuffer(size: 4096)
        let recorded = try #require(buffer.backend as? RecordedBuffer)
        #expect(recorded.cpuMappingRequests == 0)
        _ = try buffer.bytes
        #expect(recorded.cpuMappingRequests == 1)
    }

    /// A buffer the CPU cannot map (a DRM backend's device-local memory) is a typed error on
    /// every CPU path, never a trap, and stays usable on the GPU side.
    @Test func aBufferTheCpuCannotMapThrowsAndStaysUsable() throws {
        let backend = try RecordingBackend(cpuMappable: false)
        let connection = try Device(backend: backend).createConnection()
        let buffer = try connection.createBuffer(size: 4096)
        #expect(throws: MagmaError(.invalidArgs, "")) { _ = try buffer.bytes }
        #expect(throws: MagmaError(.invalidArgs, "")) { _ = try buffer.contents }
        #expect(connection.error == nil)
        try connection.map(buffer, at: 0x10000, flags: [.read, .write])
        try connection.perform(.populateTables, on: buffer, offset: 0, length: 4096)
        #expect(buffer.info == BufferInfo(committedByteCount: 4096, size: 4096))
        try connection.release(buffer)
        try connection.flush()
        #expect(backend.calls.suffix(4) == ["map(100,65536,0,4096,\(MapFlags([.read, .write]).rawValue))",
                                            "perform(\(BufferRangeOp.populateTables.rawValue),100,0,4096)", "releaseBuffer(100)", "flush"])
    }
}

/// Timelines through the core: the backend makes them and owns their ids; ownership errors
/// never reach it; CPU waits poll the backend's watches.
@Suite(.hangGuard) struct CoreTimelineTests {
    let backend: RecordingBackend
    let connection: Connection

    init() throws {
        backend = try RecordingBackend()
        connection = try Device(backend: backend).createConnection()
    }

    @Test func timelinesAreTheBackendsAndTheirPointsReachIt() throws {
        let timeline = try connection.createTimelineSemaphore(initialValue: 3)
        let context = try connection.createContext()
        #expect(timeline.id == 100 && timeline.value == 3)
        try connection.execute(on: context, CommandDescriptor(resources: [], commandBuffers: [],
                                                              waitTimelinePoints: [timeline.point(4)], signalTimelinePoints: [timeline.point(5)]))
        #expect(backend.calls == ["connect", "createTimeline(3)", "createContext(\(Priority.medium.rawValue))",
                                  "execute(7,wait:[],signal:[],timelines:[100:4],[100:5])"])
    }

    @Test func ownershipErrorsNeverReachTheBackend() throws {
        let other = try Device(backend: backend).createConnection()
        let timeline = try connection.createTimelineSemaphore()
        let before = backend.calls.count
        #expect(throws: MagmaError(.invalidArgs, "")) { try other.release(timeline) }
        #expect(backend.calls.count == before)
        try connection.release(timeline)
        #expect(throws: MagmaError(.invalidArgs, "")) { try connection.release(timeline) }
        #expect(throws: MagmaError(.invalidArgs, "")) { try timeline.signal(to: 1) }
        #expect(backend.calls.suffix(1) == ["releaseTimeline(100)"])
    }

    @Test func aFailedTimelineEndsAWaitForAPointNotReached() throws {
        let timeline = try connection.createTimelineSemaphore(initialValue: 1)
        let recorded = try #require(timeline.backend as? RecordedTimeline)
        recorded.fail()
        try timeline.wait(for: 1, timeoutNanoseconds: 0)   // reached before the failure
        #expect(throws: MagmaError(.contextKilled, "")) { try timeline.wait(for: 2, timeoutNanoseconds: 1_000_000_000) }
    }

    @Test func aStickyConnectionErrorEndsAWait() throws {
        let timeline = try connection.createTimelineSemaphore()
        backend.failSticky(MagmaError(.contextKilled, "fault"))
        #expect(throws: MagmaError(.contextKilled, "")) { try SyncWait.any([.timeline(timeline, 1)], timeoutNanoseconds: 1_000_000_000) }
    }
}
