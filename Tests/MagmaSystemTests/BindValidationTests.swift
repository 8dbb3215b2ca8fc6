import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaTestSupport
import Testing

extension PhysicalDeviceInfo {
    /// The test driver's info with a compute family (0) and a bind family (1, sparse binding only).
    static let bindTestDriver: PhysicalDeviceInfo = {
        var info = PhysicalDeviceInfo.testDriver
        info.queueFamilies = [QueueFamily(flags: [.compute, .transfer], count: 8), QueueFamily(flags: [.sparseBinding], count: 2)]
        return info
    }()
}

/// What MagmaSystem checks when a bind arrives (against the address space as it will be once
/// the binds queued before have run), what it holds until the bind runs, and what the driver
/// receives, with a driver that records its calls and runs nothing by itself.
@Suite(.hangGuard) struct BindValidationTests {
    let driver = RecordingDriver(info: .bindTestDriver)
    let sink = RecordingSink()
    let device: SystemDevice
    let page = UInt64(SharedMemory.pageSize)

    init() throws { device = try SystemDevice(driver: driver) }

    /// A connection with a compute context 1, a bind context 2, buffers 10 and 11 of four
    /// pages each and semaphore 5.
    func connection() throws -> SystemConnection {
        let connection = try device.openConnection(trust: .untrusted, sink: sink)
        connection.createContext(id: 1, priority: .medium, queueFamily: 0)
        connection.createContext(id: 2, priority: .medium, queueFamily: 1)
        connection.importBuffer(id: 10, memory: try SharedMemory.create(size: 4 * SharedMemory.pageSize))
        connection.importBuffer(id: 11, memory: try SharedMemory.create(size: 4 * SharedMemory.pageSize))
        connection.importSemaphore(id: 5, event: try EventSemaphore(), flags: [])
        #expect(connection.flush() == nil)
        return connection
    }

    func map(_ buffer: ObjectId = 10, offset: UInt64 = 0, pages: UInt64 = 1, at address: UInt64, flags: MapFlags = [.read, .write]) -> BindOperation {
        .map(bufferId: buffer, offset: offset, length: pages * page, at: address, flags: flags)
    }

    var bindWorks: [GpuWork] { driver.log.withLock { $0.submitted } }

    /// The bind's resolved changes, as "map 0x..." / "unmap 0x...".
    func changes(_ work: GpuWork) -> [String] {
        guard case .bind(let operations) = work.payload else { return [] }
        return operations.map { operation in
            switch operation {
            case .map(let mapping): "map 0x\(String(mapping.gpuAddress, radix: 16)) buffer \(mapping.bufferId)"
            case .unmap(let mapping): "unmap 0x\(String(mapping.gpuAddress, radix: 16)) buffer \(mapping.bufferId)"
            }
        }
    }

    @Test func aBindReachesTheDriverAsWorkResolvedAgainstThePlannedSpace() throws {
        let connection = try connection()
        connection.mapBuffer(gpuAddress: 0x100000, bufferId: 11, offset: 0, length: page, flags: .read)
        connection.bind(contextId: 2, BindSubmission(
            operations: [map(at: 0x200000), .unmap(at: 0x100000, length: 0x100000), map(11, at: 0x100000)],
            waitSemaphores: [5], signalSemaphores: [5]))
        #expect(connection.flush() == nil)
        let work = try #require(bindWorks.first)
        #expect(changes(work) == ["map 0x200000 buffer 10", "unmap 0x100000 buffer 11", "map 0x100000 buffer 11"])
        #expect(RecordingDriver.ids(work.waitSemaphores) == [5] && RecordingDriver.ids(work.signalSemaphores) == [5])
        #expect(driver.log.withLock { $0.maps } == [0x100000], "the driver's page tables change when the bind runs, not on arrival")
        // A later bind is validated against the space as it will be: 0x200000 is taken.
        connection.bind(contextId: 2, BindSubmission(operations: [map(11, at: 0x200000)]))
        #expect(connection.flush()?.status == .invalidArgs)
    }

    @Test func anUnmapThatFindsNothingChangesNothingAndAnEmptyRangeIsNoError() throws {
        let connection = try connection()
        connection.bind(contextId: 2, BindSubmission(operations: [.unmap(at: 0x400000, length: page)]))
        #expect(connection.flush() == nil)
        #expect(changes(try #require(bindWorks.first)) == [])
    }

    /// Each rule a bind is checked against on arrival, and the status that fails the connection.
    static let refusals: [(String, MagmaStatus, [BindOperation], UInt32)] = {
        let page = UInt64(SharedMemory.pageSize)
        return [
            ("a compute context", .invalidArgs, [.map(bufferId: 10, length: page, at: 0x100000, flags: .read)], 1),
            ("an unknown context", .invalidArgs, [.map(bufferId: 10, length: page, at: 0x100000, flags: .read)], 9),
            ("no operations", .invalidArgs, [], 2),
            ("too many operations", .invalidArgs, (0...BindSubmission.maxOperations).map { .unmap(at: UInt64($0) * page, length: page) }, 2),
            ("an unknown buffer", .invalidArgs, [.map(bufferId: 99, length: page, at: 0x100000, flags: .read)], 2),
            ("a misaligned address", .invalidArgs, [.map(bufferId: 10, length: page, at: 0x100010, flags: .read)], 2),
            ("a misaligned offset", .invalidArgs, [.map(bufferId: 10, offset: 8, length: page, at: 0x100000, flags: .read)], 2),
            ("a misaligned length", .invalidArgs, [.map(bufferId: 10, length: page - 8, at: 0x100000, flags: .read)], 2),
            ("a zero length", .invalidArgs, [.map(bufferId: 10, length: 0, at: 0x100000, flags: .read)], 2),
            ("a range past the buffer", .invalidArgs, [.map(bufferId: 10, offset: page, length: 4 * page, at: 0x100000, flags: .read)], 2),
            ("a range past the address space", .invalidArgs, [.map(bufferId: 10, length: 2 * page, at: (1 << 48) - page, flags: .read)], 2),
            ("a wrapping unmap", .invalidArgs, [.unmap(at: UInt64.max - page + 1, length: 2 * page)], 2),
            ("no access", .invalidArgs, [.map(bufferId: 10, length: page, at: 0x100000, flags: [])], 2),
            ("unknown map flags", .invalidArgs, [.map(bufferId: 10, length: page, at: 0x100000, flags: MapFlags(rawValue: 1 << 20))], 2),
            ("overlapping an earlier operation", .invalidArgs, [.map(bufferId: 10, length: 2 * page, at: 0x100000, flags: .read),
                                                                 .map(bufferId: 11, length: page, at: 0x100000 + page, flags: .read)], 2),
            ("overlapping a mapping", .invalidArgs, [.map(bufferId: 11, length: page, at: 0x300000, flags: .read)], 2),
            ("an unmap splitting a mapping", .invalidArgs, [.unmap(at: 0x300000 + page, length: page)], 2),
            ("an unmap naming a buffer", .invalidArgs, [BindOperation(kind: .unmap, bufferId: 10, offset: 0, length: page, gpuAddress: 0x500000, flags: [])], 2),
        ]
    }()

    @Test(arguments: refusals.indices) func aBadBindFailsTheConnectionWithItsStatus(_ index: Int) throws {
        let (rule, status, operations, context) = Self.refusals[index]
        let connection = try connection()
        connection.mapBuffer(gpuAddress: 0x300000, bufferId: 10, offset: 0, length: 2 * page, flags: .read)
        connection.bind(contextId: context, BindSubmission(operations: operations))
        #expect(connection.flush()?.status == status, "\(rule)")
        #expect(bindWorks.isEmpty, "\(rule): nothing reaches the driver")
    }

    @Test func unknownSemaphoresAndTimelinesAreInvalidArgs() throws {
        let first = try connection()
        first.bind(contextId: 2, BindSubmission(operations: [map(at: 0x100000)], signalSemaphores: [77]))
        #expect(first.flush()?.status == .invalidArgs)
        let second = try connection()
        second.bind(contextId: 2, BindSubmission(operations: [map(at: 0x100000)], waitTimelinePoints: [TimelinePoint(timelineId: 8, value: 1)]))
        #expect(second.flush()?.status == .invalidArgs)
    }

    @Test func aBindContextRefusesEveryKindOfCommandSubmission() throws {
        let first = try connection()
        first.executeCommand(contextId: 2, descriptor: CommandDescriptor(resources: [], commandBuffers: []))
        #expect(first.flush()?.status == .invalidArgs)
        let second = try connection()
        second.executeCommand(contextId: 2, at: GpuAddressCommand(gpuAddress: 0x100000, length: 8))
        #expect(second.flush()?.status == .invalidArgs)
        let third = try connection()
        third.executeInlineCommands(contextId: 2, commands: [InlineCommand(data: [1, 2, 3, 4])])
        #expect(third.flush()?.status == .invalidArgs)
        #expect(bindWorks.isEmpty)
    }

    @Test func buffersAQueuedBindNamesAreHeldUntilItRuns() throws {
        let connection = try connection()
        connection.mapBuffer(gpuAddress: 0x300000, bufferId: 11, offset: 0, length: page, flags: .read)
        connection.bind(contextId: 2, BindSubmission(operations: [map(at: 0x100000), .unmap(at: 0x300000, length: page)]))
        #expect(connection.flush() == nil)
        driver.completeNext()
        // Run: both may go now.
        connection.releaseBuffer(id: 10)
        connection.releaseBuffer(id: 11)
        #expect(connection.flush() == nil)
        #expect(driver.bufferReleases == [1, 1])
        #expect(driver.log.withLock { $0.unmaps } == [0x100000], "release unmaps what the bind mapped; the bind's own unmap is the driver's")
    }

    @Test func onceABindHasRunSynchronousCallsSeeTheSpaceItMade() throws {
        let connection = try connection()
        connection.mapBuffer(gpuAddress: 0x300000, bufferId: 11, offset: 0, length: page, flags: .read)
        connection.bind(contextId: 2, BindSubmission(operations: [map(at: 0x100000), .unmap(at: 0x300000, length: page)]))
        driver.completeNext()
        connection.unmapBuffer(gpuAddress: 0x100000, bufferId: 10)
        connection.mapBuffer(gpuAddress: 0x300000, bufferId: 10, offset: page, length: page, flags: .read)
        #expect(connection.flush() == nil, "the bind's mapping is unmapped synchronously and its freed range mapped again")
        #expect(driver.log.withLock { $0.unmaps } == [0x100000])
        #expect(driver.log.withLock { $0.maps } == [0x300000, 0x300000])
        connection.unmapBuffer(gpuAddress: 0x300000, bufferId: 11)
        #expect(connection.flush()?.status == .invalidArgs, "the bind removed buffer 11's mapping")
    }

    @Test(arguments: ["release the mapped buffer", "release the unmapped buffer", "unmap it synchronously", "depopulate it",
                      "map where the bind unmaps", "bind on another context where it maps"])
    func whatAQueuedBindChangesIsBadStateUntilItRuns(_ misuse: String) throws {
        let connection = try connection()
        connection.createContext(id: 3, priority: .medium, queueFamily: 1)
        connection.mapBuffer(gpuAddress: 0x300000, bufferId: 11, offset: 0, length: page, flags: .read)
        connection.bind(contextId: 2, BindSubmission(operations: [map(at: 0x100000), .unmap(at: 0x300000, length: page)], waitSemaphores: [5]))
        #expect(connection.flush() == nil)
        switch misuse {
        case "release the mapped buffer": connection.releaseBuffer(id: 10)
        case "release the unmapped buffer": connection.releaseBuffer(id: 11)
        case "unmap it synchronously": connection.unmapBuffer(gpuAddress: 0x100000, bufferId: 10)
        case "depopulate it": connection.bufferRangeOp(bufferId: 10, op: .depopulateTables, offset: 0, length: page)
        case "map where the bind unmaps": connection.mapBuffer(gpuAddress: 0x300000, bufferId: 10, offset: page, length: page, flags: .read)
        default: connection.bind(contextId: 3, BindSubmission(operations: [.unmap(at: 0x100000, length: page)]))
        }
        #expect(connection.flush()?.status == .badState, "\(misuse)")
    }

    @Test func onItsOwnContextALaterBindMayChangeWhatAnEarlierOneQueued() throws {
        let connection = try connection()
        connection.bind(contextId: 2, BindSubmission(operations: [map(at: 0x100000)], waitSemaphores: [5]))
        connection.bind(contextId: 2, BindSubmission(operations: [.unmap(at: 0x100000, length: page), map(11, at: 0x100000)]))
        #expect(connection.flush() == nil)
        #expect(bindWorks.map(changes) == [["map 0x100000 buffer 10"], ["unmap 0x100000 buffer 10", "map 0x100000 buffer 11"]])
    }

    @Test func anUnmapOfABufferInFlightIsJudgedWhenTheBindRuns() throws {
        let connection = try connection()
        connection.mapBuffer(gpuAddress: 0x300000, bufferId: 11, offset: 0, length: page, flags: .read)
        connection.executeCommand(contextId: 1, descriptor: CommandDescriptor(
            resources: [BufferRange(bufferId: 11, offset: 0, length: page)], commandBuffers: []))
        connection.bind(contextId: 2, BindSubmission(operations: [.unmap(at: 0x300000, length: page)]))
        #expect(connection.flush() == nil, "accepted on arrival: the compute work may complete first")
        let (compute, bind) = (bindWorks[0], bindWorks[1])
        compute.complete(.ok)
        #expect(bind.admitBind(), "the compute work has completed: the unmap may run")
        bind.complete(.ok)
        #expect(connection.flush() == nil)

        let busy = try self.connection()
        busy.mapBuffer(gpuAddress: 0x300000, bufferId: 11, offset: 0, length: page, flags: .read)
        busy.executeCommand(contextId: 1, descriptor: CommandDescriptor(resources: [BufferRange(bufferId: 11, offset: 0, length: page)], commandBuffers: []))
        busy.bind(contextId: 2, BindSubmission(operations: [.unmap(at: 0x300000, length: page)]))
        #expect(busy.flush() == nil)
        #expect(!bindWorks[3].admitBind(), "the compute work is still in flight when the unmap runs")
        #expect(busy.flush()?.status == .badState)
    }

    @Test func closingWithBindsQueuedReleasesEveryDriverObjectOnce() throws {
        let connection = try connection()
        connection.mapBuffer(gpuAddress: 0x300000, bufferId: 11, offset: 0, length: page, flags: .read)
        connection.bind(contextId: 2, BindSubmission(operations: [map(at: 0x100000), .unmap(at: 0x300000, length: page)], waitSemaphores: [5]))
        connection.bind(contextId: 2, BindSubmission(operations: [map(11, at: 0x500000)], signalSemaphores: [5]))
        #expect(connection.flush() == nil)
        connection.close()
        #expect(driver.bufferReleases == [1, 1])
        #expect(driver.semaphoreReleases == [1])
        #expect(driver.log.withLock { $0.released } == 1)
        // The driver abandons the queued binds after the close: nothing is released again.
        driver.completeNext(.contextKilled)
        driver.completeNext(.contextKilled)
        #expect(bindWorks.isEmpty)
        #expect(driver.bufferReleases == [1, 1])
        #expect(driver.semaphoreReleases == [1])
    }

    @Test func aBindThatDoesNotRunFailsTheConnection() throws {
        let connection = try connection()
        connection.bind(contextId: 2, BindSubmission(operations: [map(at: 0x100000)]))
        connection.destroyContext(id: 2)
        driver.completeNext(.contextKilled)
        #expect(connection.flush()?.status == .contextKilled)
    }
}
