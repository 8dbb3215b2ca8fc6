import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaTestSupport
import Synchronization
import Testing

/// A driver that notices when two of its calls for one connection overlap: each call marks the
/// connection busy for a moment (long enough for another thread to come in if nothing
/// serialized them). Every call MagmaSystem makes for the connection is one: imports on the
/// device, the connection's calls, its contexts' and pools' calls, and releases of its objects.
private final class OverlapDetectingDriver: MsdDriver, MsdDevice, MsdConnection, @unchecked Sendable {
    let busy = Atomic<Bool>(false)
    let overlaps = Atomic<Int>(0)
    let submitted = Atomic<Int>(0)
    /// Driver calls made, of every kind.
    let calls = Atomic<Int>(0)
    /// Submitted work, completed by the test afterwards (a driver never completes work inside
    /// a call MagmaSystem made to it).
    let held = Locked<[GpuWork]>([])
    /// The connection's report channel, for a test that closes it from a driver thread.
    let notifications = Locked<(any MsdNotificationHandler)?>(nil)

    func createDevice() throws(MagmaError) -> any MsdDevice { self }
    var info: PhysicalDeviceInfo { .testDriver }

    func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer { throw .invalidArgs("no queries") }
    func openConnection(clientId: UInt64, notifications: any MsdNotificationHandler) throws(MagmaError) -> any MsdConnection {
        self.notifications.withLock { $0 = notifications }
        return self
    }

    /// Runs one driver call, counting an overlap if another is inside.
    func call<Result>(_ body: () -> Result) -> Result {
        if busy.exchange(true, ordering: .acquiringAndReleasing) { overlaps.add(1, ordering: .relaxed) }
        usleep(200)
        let result = body()
        calls.add(1, ordering: .relaxed)
        busy.store(false, ordering: .releasing)
        return result
    }

    func call() { call { () } }

    func importBuffer(memory: SharedMemory, id: ObjectId) throws(MagmaError) -> any MsdBuffer { call { Object(driver: self) } }
    func importSemaphore(event: EventSemaphore, id: ObjectId, flags: ImportSemaphoreFlags) throws(MagmaError) -> any MsdSemaphore {
        call { Object(driver: self) }
    }
    func createContext(priority: Priority, queueFamily: UInt32) throws(MagmaError) -> any MsdContext { call { Context(driver: self) } }
    func map(_ mapping: GpuMapping) throws(MagmaError) { call() }
    func unmap(_ mapping: GpuMapping) { call() }
    func updatePageTables(_ op: BufferRangeOp, mapping: GpuMapping, offset: UInt64, length: UInt64) throws(MagmaError) { call() }
    func enablePerformanceCounters(_ counters: [UInt64]) throws(MagmaError) { call() }
    func clearPerformanceCounters(_ counters: [UInt64]) throws(MagmaError) { call() }
    func createPerformanceCounterPool(id: UInt64) throws(MagmaError) -> any MsdPerformanceCounterPool { call { Object(driver: self) } }
    func releasePerformanceCounterPool(_ pool: any MsdPerformanceCounterPool) { call() }
    func addPerformanceCounterRange(to pool: any MsdPerformanceCounterPool, buffer: any MsdBuffer, bufferId: ObjectId,
                                    offset: UInt64, length: UInt64) throws(MagmaError) { call() }
    func removePerformanceCounterBuffer(from pool: any MsdPerformanceCounterPool, bufferId: ObjectId) { call() }
    func dumpPerformanceCounters(_ pool: any MsdPerformanceCounterPool, triggerId: UInt32) throws(MagmaError) -> PerformanceCounterCompletion? {
        call { PerformanceCounterCompletion(triggerId: triggerId, bufferId: 2, bufferOffset: 0, timestamp: 1, flags: []) }
    }
    func release() { call() }

    /// A buffer, semaphore or pool whose release is a driver call too.
    final class Object: MsdBuffer, MsdSemaphore, MsdPerformanceCounterPool, @unchecked Sendable {
        unowned let driver: OverlapDetectingDriver
        init(driver: OverlapDetectingDriver) { self.driver = driver }
        func release() { driver.call() }
    }

    final class Context: MsdContext, @unchecked Sendable {
        let driver: OverlapDetectingDriver
        init(driver: OverlapDetectingDriver) { self.driver = driver }
        func submit(_ work: GpuWork) {
            driver.call {
                driver.held.withLock { $0.append(work) }
                driver.submitted.add(1, ordering: .relaxed)
            }
        }
        func destroy() { driver.call() }
    }
}

/// MsdDriver's promise: the driver's calls for one connection are serialized, including
/// submissions that wait for semaphores (they reach the driver at once, with their waits),
/// imports and releases of the connection's objects, and the teardown a driver report causes.
@Suite(.hangGuard) struct DriverCallSerializationTests {
    @Test func submissionsWithWaitsNeverOverlapAClientsMapping() throws {
        let driver = OverlapDetectingDriver()
        let device = try SystemDevice(driver: driver)
        let connection = try device.openConnection(trust: .trusted, sink: DiscardingSink())
        let gate = try EventSemaphore()
        connection.importSemaphore(id: 1, event: gate, flags: .oneShot)
        connection.importBuffer(id: 2, memory: try SharedMemory.create(size: 4096))
        connection.enablePerformanceCounterAccess(token: device.performanceCounterToken.identity)
        let contexts: [UInt32] = Array(1...20)
        let mapper = MapperFlags()
        try HostThread.spawn(name: "test-mapper") {
            var round: UInt64 = 0
            while !mapper.stop.load(ordering: .relaxed) {
                round += 1
                connection.mapBuffer(gpuAddress: 0x10000, bufferId: 2, offset: 0, length: 4096, flags: [.read])
                connection.unmapBuffer(gpuAddress: 0x10000, bufferId: 2)
                let scratch = 1000 + round
                connection.importBuffer(id: scratch, memory: try! SharedMemory.create(size: 4096))
                connection.mapBuffer(gpuAddress: 0x20000, bufferId: scratch, offset: 0, length: 4096, flags: [.read])
                connection.releaseBuffer(id: scratch)
                connection.importSemaphore(id: scratch, event: try! EventSemaphore(), flags: [])
                connection.releaseSemaphore(id: scratch)
                mapper.rounds.add(1, ordering: .relaxed)
            }
            mapper.done.store(true, ordering: .releasing)
        }
        let deadline = Clock.monotonicNanoseconds() + 10_000_000_000
        while mapper.rounds.load(ordering: .relaxed) < 10, Clock.monotonicNanoseconds() < deadline { usleep(1000) }
        for id in contexts {
            connection.createContext(id: id, priority: .medium)
            connection.executeCommand(contextId: id, descriptor: CommandDescriptor(resources: [], commandBuffers: [], waitSemaphores: [1]))
            connection.executeInlineCommands(contextId: id, commands: [InlineCommand(data: [1], semaphores: [1])])
            connection.createPerformanceCounterPool(id: UInt64(id), sink: DiscardingSink())
            connection.addPerformanceCounterBufferRanges(pool: UInt64(id), ranges: [BufferRange(bufferId: 2, offset: 0, length: 64)])
            connection.dumpPerformanceCounters(pool: UInt64(id), triggerId: id)
            connection.removePerformanceCounterBuffer(pool: UInt64(id), bufferId: 2)
            if id % 2 == 0 { connection.releasePerformanceCounterPool(id: UInt64(id)) }
        }
        let submittedBy = Clock.monotonicNanoseconds() + 10_000_000_000
        while driver.submitted.load(ordering: .relaxed) < 2 * contexts.count, Clock.monotonicNanoseconds() < submittedBy {
            usleep(1000)
        }
        mapper.stop.store(true, ordering: .relaxed)
        while !mapper.done.load(ordering: .acquiring), Clock.monotonicNanoseconds() < submittedBy { usleep(1000) }
        #expect(driver.submitted.load(ordering: .relaxed) == 2 * contexts.count)
        #expect(driver.overlaps.load(ordering: .relaxed) == 0)
        #expect(driver.held.withLock { $0 }.filter { !$0.waitSemaphores.isEmpty }.count == contexts.count)
        driver.held.withLock { $0 }.forEach { $0.complete(.ok) }
        #expect(connection.flush() == nil)
        connection.close()
        #expect(driver.overlaps.load(ordering: .relaxed) == 0)
    }

    @Test func aTeardownADriverReportCausesNeverOverlapsAClientsCalls() throws {
        let driver = OverlapDetectingDriver()
        let device = try SystemDevice(driver: driver)
        let connection = try device.openConnection(trust: .trusted, sink: DiscardingSink())
        for id in 1...50 {
            connection.importBuffer(id: ObjectId(id), memory: try SharedMemory.create(size: 4096))
            connection.importSemaphore(id: ObjectId(id), event: try EventSemaphore(), flags: [])
        }
        let reporter = MapperFlags()
        let notifications = try #require(driver.notifications.withLock { $0 })
        try HostThread.spawn(name: "test-driver") {
            while reporter.rounds.load(ordering: .acquiring) < 5 { usleep(100) }
            notifications.contextKilled("a fault, reported from the driver's thread")
            reporter.done.store(true, ordering: .releasing)
        }
        let deadline = Clock.monotonicNanoseconds() + 10_000_000_000
        var round: UInt64 = 0
        while connection.flush() == nil, Clock.monotonicNanoseconds() < deadline {
            round += 1
            connection.importBuffer(id: 1000 + round, memory: try SharedMemory.create(size: 4096))
            connection.mapBuffer(gpuAddress: 0x10000, bufferId: 1000 + round, offset: 0, length: 4096, flags: [.read])
            connection.unmapBuffer(gpuAddress: 0x10000, bufferId: 1000 + round)
            reporter.rounds.add(1, ordering: .releasing)
        }
        while !reporter.done.load(ordering: .acquiring), Clock.monotonicNanoseconds() < deadline { usleep(1000) }
        #expect(connection.flush()?.status == .contextKilled)
        #expect(driver.calls.load(ordering: .relaxed) > 100, "the teardown released every object")
        #expect(driver.overlaps.load(ordering: .relaxed) == 0)
    }
}

/// Tells the mapping thread to stop, and that it has.
private final class MapperFlags: Sendable {
    let stop = Atomic<Bool>(false)
    let done = Atomic<Bool>(false)
    /// Map-unmap rounds done.
    let rounds = Atomic<Int>(0)
}

/// Drops what the system sends the client.
private final class DiscardingSink: NotificationSink, PerformanceCounterEventSink {
    func deliver(_ message: [UInt8]) {}
    func connectionClosed(_ error: MagmaError) {}
    func readCompleted(_ completion: PerformanceCounterCompletion) {}
}
