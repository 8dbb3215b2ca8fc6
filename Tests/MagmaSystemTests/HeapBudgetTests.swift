import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaTestSupport
import Testing

/// MagmaSystem's memory and queue rules, through a recording driver: heap budgets held
/// device-wide, refusals that leave the connection usable, bytes given back on every path;
/// queue-family indices and counts; GPU-address submissions.
@Suite(.hangGuard) struct HeapBudgetTests {
    static let page = UInt64(SharedMemory.pageSize)
    /// Heap 0: 4 pages, heap 1: 64 pages; type 0 on heap 0, type 1 on heap 1; the largest
    /// allocation 8 pages; family 0 holds 2 contexts, family 1 one.
    static let info = PhysicalDeviceInfo(
        vendorId: 1, deviceId: 2, driverVersion: 3, name: "budget", driverName: "test",
        limits: DeviceLimits(addressSpaceSize: 1 << 48, pageSize: page, maxAllocationSize: 8 * page),
        memoryProperties: MemoryProperties(types: [MemoryType(propertyFlags: [.hostVisible], heapIndex: 0),
                                                   MemoryType(propertyFlags: [.deviceLocal], heapIndex: 1)],
                                           heaps: [MemoryHeap(size: 4 * page, flags: []), MemoryHeap(size: 64 * page, flags: .deviceLocal)]),
        queueFamilies: [QueueFamily(flags: [.compute, .transfer], count: 2), QueueFamily(flags: [.transfer], count: 1)])

    let driver = RecordingDriver(info: Self.info)
    let sink = RecordingSink()
    let device: SystemDevice
    let connection: SystemConnection

    init() throws {
        device = try SystemDevice(driver: driver)
        connection = try device.openConnection(trust: .untrusted, sink: sink)
    }

    func memory(pages: UInt64) throws -> SharedMemory { try SharedMemory.create(size: Int(pages * Self.page)) }

    @Test func theDeviceIsWhatTheDriverSays() throws {
        #expect(device.info == Self.info)
        var broken = Self.info
        broken.memoryProperties.types.append(MemoryType(propertyFlags: [], heapIndex: 2))
        #expect(throws: MagmaError(.invalidArgs)) { _ = try SystemDevice(driver: RecordingDriver(info: broken)) }
    }

    @Test func aRefusedAllocationChangesNothingAndLeavesTheConnectionUsable() throws {
        try connection.importBuffer(id: 1, memory: try memory(pages: 3), memoryType: 0)
        #expect(throws: MagmaError(.memoryError)) { try connection.importBuffer(id: 2, memory: try memory(pages: 2), memoryType: 0) }
        #expect(throws: MagmaError(.invalidArgs)) { try connection.importBuffer(id: 2, memory: try memory(pages: 1), memoryType: 2) }
        #expect(throws: MagmaError(.memoryError)) { try connection.importBuffer(id: 2, memory: try memory(pages: 9), memoryType: 1) }
        #expect(connection.error == nil)
        #expect(sink.epitaphs.withLock { $0 }.isEmpty)
        #expect(driver.log.withLock { $0.buffers.count } == 1, "the driver is never asked for a refused buffer")
        #expect(try connection.memoryBudget(heap: 0) == MemoryBudget(budget: 4 * Self.page, usage: 3 * Self.page))
        try connection.importBuffer(id: 2, memory: try memory(pages: 1), memoryType: 0)
        try connection.importBuffer(id: 3, memory: try memory(pages: 8), memoryType: 1)
        #expect(try connection.memoryBudget(heap: 1) == MemoryBudget(budget: 64 * Self.page, usage: 8 * Self.page))
        #expect(throws: MagmaError(.invalidArgs)) { _ = try connection.memoryBudget(heap: 2) }
    }

    @Test func theFeedForwardImportPastTheBudgetFailsTheConnection() throws {
        connection.importBuffer(id: 1, memory: try memory(pages: 5))
        #expect(connection.flush()?.status == .memoryError)
        #expect(sink.epitaphs.withLock { $0.map(\.status) } == [.memoryError])
        #expect(throws: MagmaError(.memoryError)) { _ = try connection.memoryBudget(heap: 0) }
    }

    @Test func releaseCloseAndFailureGiveTheBytesBack() throws {
        let observer = try device.openConnection(trust: .untrusted, sink: RecordingSink())
        try connection.importBuffer(id: 1, memory: try memory(pages: 3), memoryType: 0)
        #expect(try observer.memoryBudget(heap: 0) == MemoryBudget(budget: Self.page, usage: 0))
        connection.releaseBuffer(id: 1)
        #expect(try observer.memoryBudget(heap: 0).budget == 4 * Self.page)
        try connection.importBuffer(id: 2, memory: try memory(pages: 3), memoryType: 0)
        connection.close()
        #expect(try observer.memoryBudget(heap: 0).budget == 4 * Self.page)
        #expect(throws: MagmaError(.badState)) { try connection.importBuffer(id: 3, memory: try memory(pages: 1), memoryType: 0) }
        #expect(try observer.memoryBudget(heap: 0).budget == 4 * Self.page, "a closed connection allocates nothing")
        let failing = try device.openConnection(trust: .untrusted, sink: RecordingSink())
        try failing.importBuffer(id: 1, memory: try memory(pages: 4), memoryType: 0)
        #expect(try observer.memoryBudget(heap: 0).budget == 0)
        failing.releaseBuffer(id: 42)   // unknown: fails the connection
        #expect(failing.error?.status == .invalidArgs)
        #expect(try observer.memoryBudget(heap: 0).budget == 4 * Self.page)
    }

    @Test func oneBufferImportedTwiceUnderItsIdCountsOnce() throws {
        let shared = try memory(pages: 2)
        try connection.importBuffer(id: 1, memory: shared, memoryType: 0)
        try connection.importBuffer(id: 1, memory: shared, memoryType: 0)
        #expect(try connection.memoryBudget(heap: 0).usage == 2 * Self.page)
        connection.releaseBuffer(id: 1)
        #expect(try connection.memoryBudget(heap: 0).usage == 2 * Self.page, "one import is left")
        connection.releaseBuffer(id: 1)
        #expect(try connection.memoryBudget(heap: 0).usage == 0)
    }

    @Test func aDriverThatRefusesTheBufferGivesTheReservationBack() throws {
        let observer = try device.openConnection(trust: .untrusted, sink: RecordingSink())
        driver.log.withLock { $0.importFailure = .memoryError("the driver is out of memory") }
        #expect(throws: MagmaError(.memoryError)) { try connection.importBuffer(id: 1, memory: try memory(pages: 3), memoryType: 0) }
        #expect(connection.error?.status == .memoryError, "a driver's refusal fails the connection, as every driver error")
        #expect(try observer.memoryBudget(heap: 0).budget == 4 * Self.page)
    }

    @Test func contextsNameAFamilyAndAFamilyHoldsItsCount() throws {
        connection.createContext(id: 1, priority: .medium, queueFamily: 1)
        connection.createContext(id: 2, priority: .medium, queueFamily: 0)
        connection.destroyContext(id: 1)
        connection.createContext(id: 3, priority: .medium, queueFamily: 1)
        connection.createContext(id: 4, priority: .medium, queueFamily: 0)
        #expect(connection.error == nil)
        #expect(driver.log.withLock { $0.contextFamilies } == [1, 0, 1, 0])
        connection.createContext(id: 5, priority: .medium, queueFamily: 0)
        #expect(connection.flush()?.status == .memoryError)
        let other = try device.openConnection(trust: .untrusted, sink: RecordingSink())
        other.createContext(id: 1, priority: .medium, queueFamily: 2)
        #expect(other.flush()?.status == .invalidArgs)
    }

    @Test func aGPUAddressSubmissionReachesTheDriverAsAStream() throws {
        connection.createContext(id: 1, priority: .medium)
        connection.executeCommand(contextId: 1, at: GpuAddressCommand(gpuAddress: 0x10000, length: 64, flags: 1 << 16))
        let work = try #require(driver.log.withLock { $0.submitted.first })
        guard case .commandStream(let address, let length, let flags) = work.payload else { Issue.record("\(work.payload)"); return }
        #expect(address == 0x10000 && length == 64 && flags == 1 << 16)
        work.complete(.ok)
        connection.executeCommand(contextId: 1, at: GpuAddressCommand(gpuAddress: 0x10000, length: 0))
        #expect(connection.flush()?.status == .invalidArgs)
        let wrapping = try device.openConnection(trust: .untrusted, sink: RecordingSink())
        wrapping.createContext(id: 1, priority: .medium)
        wrapping.executeCommand(contextId: 1, at: GpuAddressCommand(gpuAddress: (1 << 48) - 8, length: 16))
        #expect(wrapping.flush()?.status == .invalidArgs)
    }
}
