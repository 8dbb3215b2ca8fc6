import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaTestSupport
import Synchronization
import Testing

/// A driver that notices when two of its calls for one connection overlap: each call marks the
/// connection busy for a moment (long enough for another thread to come in if nothing
/// serialized them).
private final class OverlapDetectingDriver: MsdDriver, MsdDevice, MsdConnection, @unchecked Sendable {
    let busy = Atomic<Bool>(false)
    let overlaps = Atomic<Int>(0)
    let submitted = Atomic<Int>(0)
    /// Submitted work, completed by the test afterwards (a driver never completes work inside
    /// a call MagmaSystem made to it).
    let held = Locked<[GpuWork]>([])

    func createDevice() throws(MagmaError) -> any MsdDevice { self }
    func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer { throw .invalidArgs("no queries") }
    func openConnection(clientId: UInt64, notifications: any MsdNotificationHandler) throws(MagmaError) -> any MsdConnection { self }

    /// Runs one driver call, counting an overlap if another is inside.
    func call(_ body: () -> Void = {}) {
        if busy.exchange(true, ordering: .acquiringAndReleasing) { overlaps.add(1, ordering: .relaxed) }
        usleep(200)
        body()
        busy.store(false, ordering: .releasing)
    }

    func createContext(priority: Priority) throws(MagmaError) -> any MsdContext { Context(driver: self) }
    func map(_ mapping: GpuMapping) throws(MagmaError) { call() }
    func unmap(_ mapping: GpuMapping) { call() }
    func updatePageTables(_ op: BufferRangeOp, mapping: GpuMapping, offset: UInt64, length: UInt64) throws(MagmaError) { call() }
    func release() {}

    final class Context: MsdContext, @unchecked Sendable {
        let driver: OverlapDetectingDriver
        init(driver: OverlapDetectingDriver) { self.driver = driver }
        func submit(_ work: GpuWork) {
            driver.call {
                driver.held.withLock { $0.append(work) }
                driver.submitted.add(1, ordering: .relaxed)
            }
        }
        func destroy() {}
    }
}

/// MsdDriver's promise: the driver's calls for one connection are serialized, including
/// submissions that wait for semaphores (they reach the driver at once, with their waits).
@Suite(.hangGuard) struct DriverCallSerializationTests {
    @Test func submissionsWithWaitsNeverOverlapAClientsMapping() throws {
        let driver = OverlapDetectingDriver()
        let device = try SystemDevice(driver: driver)
        let connection = try device.openConnection(trust: .trusted, sink: DiscardingSink())
        let gate = try EventSemaphore()
        connection.importSemaphore(id: 1, event: gate, flags: .oneShot)
        connection.importBuffer(id: 2, memory: try SharedMemory.create(size: 4096))
        let contexts: [UInt32] = Array(1...20)
        let mapper = MapperFlags()
        try HostThread.spawn(name: "test-mapper") {
            while !mapper.stop.load(ordering: .relaxed) {
                connection.mapBuffer(gpuAddress: 0x10000, bufferId: 2, offset: 0, length: 4096, flags: [.read])
                connection.unmapBuffer(gpuAddress: 0x10000, bufferId: 2)
                mapper.rounds.add(1, ordering: .relaxed)
            }
            mapper.done.store(true, ordering: .releasing)
        }
        let deadline = Clock.monotonicNanoseconds() + 10_000_000_000
        while mapper.rounds.load(ordering: .relaxed) < 10, Clock.monotonicNanoseconds() < deadline { usleep(1000) }
        for id in contexts {
            connection.createContext(id: id, priority: .medium)
            connection.executeCommand(contextId: id, descriptor: CommandDescriptor(resources: [], commandBuffers: [], waitSemaphores: [1]))
        }
        let submittedBy = Clock.monotonicNanoseconds() + 10_000_000_000
        while driver.submitted.load(ordering: .relaxed) < contexts.count, Clock.monotonicNanoseconds() < submittedBy {
            usleep(1000)
        }
        mapper.stop.store(true, ordering: .relaxed)
        while !mapper.done.load(ordering: .acquiring), Clock.monotonicNanoseconds() < submittedBy { usleep(1000) }
        #expect(driver.submitted.load(ordering: .relaxed) == contexts.count)
        #expect(driver.overlaps.load(ordering: .relaxed) == 0)
        #expect(driver.held.withLock { $0 }.allSatisfy { $0.waitSemaphores.map(\.id) == [1] })
        driver.held.withLock { $0 }.forEach { $0.complete(.ok) }
        #expect(connection.flush() == nil)
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
private final class DiscardingSink: NotificationSink {
    func deliver(_ message: [UInt8]) {}
    func connectionClosed(_ error: MagmaError) {}
}
