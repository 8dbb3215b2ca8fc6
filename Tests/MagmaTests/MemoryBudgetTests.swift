import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// Memory types and heaps with budgets: what the device reports, what allocation respects,
/// and what a connection's release and close give back, on every backend.
@Suite(.hangGuard, .drmBackend(.skipped(.memoryBudgets))) struct MemoryBudgetTests {
    let devices = TestDevices()
    static let page = UInt64(SharedMemory.pageSize)

    /// Heap 0: 16 pages, device-local; heap 1: 8 pages. Type 0 maps on the CPU (heap 0),
    /// type 1 is GPU-only (heap 0), type 2 maps on the CPU (heap 1).
    static let small = SoftGPUConfiguration(
        memoryHeaps: [MemoryHeap(size: 16 * page, flags: .deviceLocal), MemoryHeap(size: 8 * page, flags: [])],
        memoryTypes: [MemoryType(propertyFlags: [.deviceLocal, .hostVisible, .hostCoherent], heapIndex: 0),
                      MemoryType(propertyFlags: [.deviceLocal], heapIndex: 0),
                      MemoryType(propertyFlags: [.hostVisible, .hostCoherent], heapIndex: 1)])

    @Test(arguments: TestBackend.virtioCases) func theDeviceReportsItsConfiguredMemory(_ backend: TestBackend) throws {
        let properties = try devices.open(backend, own: Self.small).memoryProperties()
        #expect(properties.heaps == Self.small.memoryHeaps)
        #expect(properties.types == Self.small.memoryTypes)
        let defaults = try devices.open(backend).memoryProperties()
        #expect(defaults.types == SoftGPUConfiguration.defaultMemoryTypes)
        #expect(defaults.heaps == SoftGPUConfiguration.defaultMemoryHeaps)
    }

    @Test(arguments: TestBackend.virtioCases) func anAllocationPastTheBudgetIsMemoryErrorAndTheConnectionStaysUsable(_ backend: TestBackend) throws {
        let session = try GPUSession(device: try devices.open(backend, own: Self.small))
        let connection = session.connection
        #expect(try connection.memoryBudget(heap: 0) == MemoryBudget(budget: 16 * Self.page, usage: 0))
        let first = try connection.createBuffer(size: 10 * Self.page, memoryType: 0)
        #expect(try connection.memoryBudget(heap: 0) == MemoryBudget(budget: 16 * Self.page, usage: 10 * Self.page))
        expectStatus(.memoryError) { _ = try connection.createBuffer(size: 7 * Self.page, memoryType: 0) }
        expectStatus(.memoryError) { _ = try connection.createBuffer(size: 7 * Self.page, memoryType: 1) }
        #expect(connection.error == nil)
        try connection.flush()
        #expect(try connection.memoryBudget(heap: 0).usage == 10 * Self.page, "a refused allocation counts nothing")
        // What is left still fits, exactly.
        let (target, address) = try session.mappedBuffer(size: 6 * Self.page)
        #expect(try connection.memoryBudget(heap: 0) == MemoryBudget(budget: 16 * Self.page, usage: 16 * Self.page))
        expectStatus(.memoryError) { _ = try connection.createBuffer(size: 1, memoryType: 0) }
        // The connection still runs work (its command buffer needs room: release the first).
        try connection.release(first)
        try connection.flush()
        try session.fill(address: address, size: 4096, pattern: 0x77)
        #expect(try target.u32(at: 4092) == 0x77)
    }

    @Test(arguments: TestBackend.virtioCases) func usageComesBackAfterReleaseAndAfterTheConnectionCloses(_ backend: TestBackend) throws {
        let device = try devices.open(backend, own: Self.small)
        let holder = try device.createConnection()
        let observer = try device.createConnection()
        let kept = try holder.createBuffer(size: 6 * Self.page, memoryType: 0)
        let released = try holder.createBuffer(size: 4 * Self.page, memoryType: 1)
        _ = kept
        #expect(try observer.memoryBudget(heap: 0) == MemoryBudget(budget: 6 * Self.page, usage: 0), "the heap's budget is device-wide")
        expectStatus(.memoryError) { _ = try observer.createBuffer(size: 7 * Self.page, memoryType: 0) }
        try holder.release(released)
        try holder.flush()
        #expect(try holder.memoryBudget(heap: 0) == MemoryBudget(budget: 16 * Self.page, usage: 6 * Self.page))
        #expect(try observer.memoryBudget(heap: 0).budget == 10 * Self.page)
        holder.release()
        // A socket connection's end reaches the server after the call returns.
        let deadline = Clock.monotonicNanoseconds() + 10_000_000_000
        while try observer.memoryBudget(heap: 0).budget != 16 * Self.page, Clock.monotonicNanoseconds() < deadline {
            _ = try? Poll.wait([], timeoutNanoseconds: 5_000_000)
        }
        #expect(try observer.memoryBudget(heap: 0) == MemoryBudget(budget: 16 * Self.page, usage: 0))
        _ = try observer.createBuffer(size: 16 * Self.page, memoryType: 1)
    }

    @Test(arguments: TestBackend.virtioCases) func wrongMemoryTypesAndHeapsAreInvalidArgs(_ backend: TestBackend) throws {
        let connection = try devices.open(backend, own: Self.small).createConnection()
        expectStatus(.invalidArgs) { _ = try connection.createBuffer(size: Self.page, memoryType: 3) }
        expectStatus(.invalidArgs) { _ = try connection.memoryBudget(heap: 2) }
        let source = try connection.createBuffer(size: Self.page, memoryType: 0)
        expectStatus(.invalidArgs) { _ = try connection.importBuffer(try source.export(), memoryType: 9) }
        #expect(connection.error == nil)
        try connection.flush()
        #expect(try connection.memoryBudget(heap: 0).usage == Self.page)
    }

    @Test(arguments: TestBackend.virtioCases) func eachHeapHasItsOwnBudget(_ backend: TestBackend) throws {
        let connection = try devices.open(backend, own: Self.small).createConnection()
        _ = try connection.createBuffer(size: 8 * Self.page, memoryType: 2)
        #expect(try connection.memoryBudget(heap: 1) == MemoryBudget(budget: 8 * Self.page, usage: 8 * Self.page))
        #expect(try connection.memoryBudget(heap: 0) == MemoryBudget(budget: 16 * Self.page, usage: 0))
        expectStatus(.memoryError) { _ = try connection.createBuffer(size: Self.page, memoryType: 2) }
        _ = try connection.createBuffer(size: 16 * Self.page, memoryType: 0)
        #expect(connection.error == nil)
    }

    @Test(arguments: TestBackend.virtioCases) func anImportCountsInTheImportingConnection(_ backend: TestBackend) throws {
        let device = try devices.open(backend, own: Self.small)
        let exporter = try device.createConnection()
        let importer = try device.createConnection()
        let shared = try exporter.createBuffer(size: 4 * Self.page, memoryType: 2)
        let imported = try importer.importBuffer(try shared.export(), memoryType: 2)
        #expect(imported.size == 4 * Self.page)
        #expect(try importer.memoryBudget(heap: 1) == MemoryBudget(budget: 4 * Self.page, usage: 4 * Self.page))
        expectStatus(.memoryError) { _ = try importer.importBuffer(try shared.export(), memoryType: 2) }
        #expect(importer.error == nil)
    }

    @Test(arguments: TestBackend.virtioCases) func gpuOnlyMemoryHasNoCPUMappingButTheGPUUsesIt(_ backend: TestBackend) throws {
        let session = try GPUSession(device: try devices.open(backend, own: Self.small))
        let hidden = try session.connection.createBuffer(size: Self.page, memoryType: 1)
        expectStatus(.invalidArgs) { _ = try hidden.bytes }
        let hiddenAddress = session.reserveAddress(hidden.size)
        try session.connection.map(hidden, at: hiddenAddress, flags: [.read, .write])
        let (visible, visibleAddress) = try session.mappedBuffer(size: Self.page)
        var stream = CommandStream()
        stream.fill(address: hiddenAddress, size: Self.page, pattern: 0x5EC2E7)
        stream.copy(from: hiddenAddress, to: visibleAddress, size: Self.page)
        try session.run(stream)
        #expect(try visible.u32s(Int(Self.page) / 4).allSatisfy { $0 == 0x5EC2E7 })
    }
}
