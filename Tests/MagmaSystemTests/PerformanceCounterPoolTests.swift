import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaTestSupport
import Testing

/// A driver with counters that records its pool calls: pools, their ranges and dumps are the
/// driver's; MagmaSystem checks access, ids and ranges and routes each dump's report.
private final class PoolRecordingDriver: MsdDriver, MsdDevice, MsdConnection, @unchecked Sendable {
    final class Buffer: MsdBuffer, @unchecked Sendable {
        let id: ObjectId
        init(id: ObjectId) { self.id = id }
        func release() {}
    }

    final class Pool: MsdPerformanceCounterPool, @unchecked Sendable {
        let id: UInt64
        let ranges = Locked<[(buffer: Buffer, bufferId: ObjectId, offset: UInt64)]>([])
        let releases = Locked(0)
        init(id: UInt64) { self.id = id }
    }

    /// Every driver call, in order.
    let calls = Locked<[String]>([])
    let pools = Locked<[Pool]>([])

    func createDevice() throws(MagmaError) -> any MsdDevice { self }
    var info: PhysicalDeviceInfo { .testDriver }

    func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer { throw .invalidArgs("no queries") }
    func openConnection(clientId: UInt64, notifications: any MsdNotificationHandler) throws(MagmaError) -> any MsdConnection { self }
    func importBuffer(memory: SharedMemory, id: ObjectId) throws(MagmaError) -> any MsdBuffer { Buffer(id: id) }
    func importSemaphore(event: EventSemaphore, id: ObjectId, flags: ImportSemaphoreFlags) throws(MagmaError) -> any MsdSemaphore {
        throw .unimplemented("no semaphores")
    }
    func createContext(priority: Priority, queueFamily: UInt32) throws(MagmaError) -> any MsdContext { throw .unimplemented("no contexts") }
    func map(_ mapping: GpuMapping) throws(MagmaError) {}
    func unmap(_ mapping: GpuMapping) {}
    func updatePageTables(_ op: BufferRangeOp, mapping: GpuMapping, offset: UInt64, length: UInt64) throws(MagmaError) {}
    func release() { calls.withLock { $0.append("release connection") } }

    func enablePerformanceCounters(_ counters: [UInt64]) throws(MagmaError) {
        calls.withLock { $0.append("enable \(counters)") }
        guard counters.allSatisfy({ $0 & ~0b11 == 0 }) else { throw .invalidArgs("two counters only") }
    }
    func clearPerformanceCounters(_ counters: [UInt64]) throws(MagmaError) { calls.withLock { $0.append("clear \(counters)") } }
    func createPerformanceCounterPool(id: UInt64) throws(MagmaError) -> any MsdPerformanceCounterPool {
        calls.withLock { $0.append("create \(id)") }
        let pool = Pool(id: id)
        pools.withLock { $0.append(pool) }
        return pool
    }
    func releasePerformanceCounterPool(_ pool: any MsdPerformanceCounterPool) {
        let pool = pool as! Pool
        pool.releases.withLock { $0 += 1 }
        calls.withLock { $0.append("release \(pool.id)") }
    }
    func addPerformanceCounterRange(to pool: any MsdPerformanceCounterPool, buffer: any MsdBuffer, bufferId: ObjectId,
                                    offset: UInt64, length: UInt64) throws(MagmaError) {
        let pool = pool as! Pool
        pool.ranges.withLock { $0.append((buffer as! Buffer, bufferId, offset)) }
        calls.withLock { $0.append("add \(pool.id) \(bufferId)+\(offset)") }
    }
    func removePerformanceCounterBuffer(from pool: any MsdPerformanceCounterPool, bufferId: ObjectId) {
        let pool = pool as! Pool
        calls.withLock { $0.append("remove \(pool.id) \(bufferId)") }
    }
    func dumpPerformanceCounters(_ pool: any MsdPerformanceCounterPool, triggerId: UInt32) throws(MagmaError) -> PerformanceCounterCompletion? {
        let pool = pool as! Pool
        calls.withLock { $0.append("dump \(pool.id) \(triggerId)") }
        guard triggerId != 0xBAD else { throw .invalidArgs("the driver refuses this dump") }
        guard let range = pool.ranges.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { return nil }
        return PerformanceCounterCompletion(triggerId: triggerId, bufferId: range.bufferId, bufferOffset: UInt32(range.offset),
                                            timestamp: 1, flags: [])
    }
}

/// Collects one pool's reports.
private final class CollectingSink: PerformanceCounterEventSink, NotificationSink, @unchecked Sendable {
    let completions = Locked<[PerformanceCounterCompletion]>([])
    func readCompleted(_ completion: PerformanceCounterCompletion) { completions.withLock { $0.append(completion) } }
    func deliver(_ message: [UInt8]) {}
    func connectionClosed(_ error: MagmaError) {}
}

@Suite(.hangGuard) struct PerformanceCounterPoolTests {
    private let driver = PoolRecordingDriver()
    private let device: SystemDevice
    private let connection: SystemConnection

    init() throws {
        device = try SystemDevice(driver: driver)
        connection = try device.openConnection(trust: .untrusted, sink: CollectingSink())
    }

    private func grantAccess() { connection.enablePerformanceCounterAccess(token: device.performanceCounterToken.identity) }

    @Test func withoutTheTokenTheDriverHearsNothing() throws {
        connection.createPerformanceCounterPool(id: 1, sink: CollectingSink())
        #expect(connection.flush()?.status == .accessDenied)
        #expect(driver.calls.withLock { $0 } == ["release connection"])
    }

    @Test func dumpsGoToTheDriverAndTheirReportsToThePoolsChannel() throws {
        grantAccess()
        connection.importBuffer(id: 7, memory: try SharedMemory.create(size: 4096))
        let first = CollectingSink(), second = CollectingSink()
        connection.enablePerformanceCounters([0b11])
        connection.createPerformanceCounterPool(id: 1, sink: first)
        connection.createPerformanceCounterPool(id: 2, sink: second)
        connection.addPerformanceCounterBufferRanges(pool: 1, ranges: [BufferRange(bufferId: 7, offset: 0, length: 64),
                                                                       BufferRange(bufferId: 7, offset: 64, length: 64)])
        connection.dumpPerformanceCounters(pool: 1, triggerId: 5)
        connection.dumpPerformanceCounters(pool: 2, triggerId: 6)
        connection.removePerformanceCounterBuffer(pool: 1, bufferId: 7)
        connection.clearPerformanceCounters([0b1])
        #expect(connection.flush() == nil)
        #expect(driver.calls.withLock { $0 } == ["enable [3]", "create 1", "create 2", "add 1 7+0", "add 1 7+64", "dump 1 5", "dump 2 6",
                                                 "remove 1 7", "clear [1]"])
        #expect(first.completions.withLock { $0 } == [PerformanceCounterCompletion(triggerId: 5, bufferId: 7, bufferOffset: 0, timestamp: 1, flags: [])])
        #expect(second.completions.withLock { $0.isEmpty }, "a pool without ranges reports nothing")
        let pool = try #require(driver.pools.withLock { $0.first })
        #expect(pool.ranges.withLock { $0.first?.buffer.id } == 7, "the pool holds the driver's own buffer")
    }

    @Test func unknownPoolsAndBadRangesNeverReachTheDriver() throws {
        let requests: [(SystemConnection) -> Void] = [
            { $0.releasePerformanceCounterPool(id: 9) },
            { $0.dumpPerformanceCounters(pool: 9, triggerId: 1) },
            { $0.removePerformanceCounterBuffer(pool: 9, bufferId: 7) },
            { $0.addPerformanceCounterBufferRanges(pool: 1, ranges: [BufferRange(bufferId: 8, offset: 0, length: 64)]) },   // unknown buffer
            { $0.addPerformanceCounterBufferRanges(pool: 1, ranges: [BufferRange(bufferId: 7, offset: 4000, length: 200)]) },
            { $0.addPerformanceCounterBufferRanges(pool: 1, ranges: [BufferRange(bufferId: 7, offset: 0, length: 0)]) },
            { $0.createPerformanceCounterPool(id: 1, sink: CollectingSink()) },   // a used id
        ]
        for request in requests {
            let driver = PoolRecordingDriver()
            let device = try SystemDevice(driver: driver)
            let connection = try device.openConnection(trust: .untrusted, sink: CollectingSink())
            connection.enablePerformanceCounterAccess(token: device.performanceCounterToken.identity)
            connection.importBuffer(id: 7, memory: try SharedMemory.create(size: 4096))
            connection.createPerformanceCounterPool(id: 1, sink: CollectingSink())
            request(connection)
            #expect(connection.flush()?.status == .invalidArgs)
            #expect(driver.calls.withLock { $0 } == ["create 1", "release 1", "release connection"])
        }
    }

    @Test func theDriversRefusalClosesTheConnection() throws {
        grantAccess()
        connection.createPerformanceCounterPool(id: 1, sink: CollectingSink())
        connection.enablePerformanceCounters([0b100])
        #expect(connection.flush()?.status == .invalidArgs, "the driver knows which counters exist")
        let other = try device.openConnection(trust: .untrusted, sink: CollectingSink())
        other.enablePerformanceCounterAccess(token: device.performanceCounterToken.identity)
        other.createPerformanceCounterPool(id: 1, sink: CollectingSink())
        other.dumpPerformanceCounters(pool: 1, triggerId: 0xBAD)
        #expect(other.flush()?.status == .invalidArgs)
    }

    @Test func poolsAreReleasedOnceByReleaseOrClose() throws {
        grantAccess()
        connection.createPerformanceCounterPool(id: 1, sink: CollectingSink())
        connection.createPerformanceCounterPool(id: 2, sink: CollectingSink())
        connection.releasePerformanceCounterPool(id: 1)
        connection.close()
        connection.close()
        #expect(driver.pools.withLock { $0.map { $0.releases.withLock { $0 } } } == [1, 1])
        #expect(driver.calls.withLock { $0.suffix(3) } == ["release 1", "release 2", "release connection"],
                "pools go before the connection")
    }
}
