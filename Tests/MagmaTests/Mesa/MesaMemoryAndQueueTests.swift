@testable import Magma
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// The Mesa face over the core's memory types, heap budgets, queue families and submission by
/// GPU address, on every backend.
@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct MesaMemoryAndQueueTests {
    let devices = MesaTestDevices()

    /// Heap 0 (host-visible memory, type 0) is large; heap 1 (GPU-only memory, type 1) is 1 MiB.
    static let twoHeaps = SoftGPUConfiguration(
        memoryHeaps: [MemoryHeap(size: 1 << 36, flags: .deviceLocal), MemoryHeap(size: 1 << 20, flags: .deviceLocal)],
        memoryTypes: [MemoryType(propertyFlags: [.deviceLocal, .hostVisible, .hostCoherent, .hostCached], heapIndex: 0),
                      MemoryType(propertyFlags: [.deviceLocal], heapIndex: 1)])

    // MARK: Memory types and budgets

    @Test(arguments: TestBackend.virtioCases) func gpuOnlyMemoryRunsWorkButCannotBeMappedForTheCPU(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        #expect(session.device.physicalDevice.memoryProperties.types[1].propertyFlags == [.deviceLocal])
        let gpuOnly = try session.device.createBuffer(size: 4096, memoryTypeIndex: 1)
        #expect(gpuOnly.memoryTypeIndex == 1)
        expectStatus(.invalidArgs) { _ = try gpuOnly.mapCPU() }
        // The GPU fills it and copies it out to memory the CPU can read.
        let gpuAddress = session.reserveAddress(4096)
        try session.space.map(gpuOnly, gpuAddress: gpuAddress, size: 4096, flags: [.read, .write])
        let (visible, visibleAddress) = try session.mappedBuffer(size: 4096)
        var stream = CommandStream()
        stream.fill(address: gpuAddress, size: 4096, pattern: 0x6E0)
        stream.copy(from: gpuAddress, to: visibleAddress, size: 4096)
        stream.end()
        try session.run(stream)
        #expect(try visible.u32s(1024).allSatisfy { $0 == 0x6E0 })
    }

    @Test(arguments: TestBackend.virtioCases) func importsIntoAddressSpacesKeepTheMemoryType(_ backend: TestBackend) throws {
        let session = try devices.session(backend, own: Self.twoHeaps)
        let device = session.device
        let before = try device.memoryBudget(heap: 1)
        #expect(before.usage == 0)
        #expect(before.budget == 1 << 20)
        let buffer = try device.createBuffer(size: 256 << 10, memoryTypeIndex: 1)
        #expect(try device.memoryBudget(heap: 1).usage == 256 << 10)
        // Mapped in an address space, the buffer's import there is memory of type 1 too:
        // counted in heap 1, not in heap 0.
        let heap0 = try device.memoryBudget(heap: 0).usage
        try session.space.map(buffer, gpuAddress: session.reserveAddress(buffer.size), size: buffer.size, flags: .read)
        #expect(try device.memoryBudget(heap: 1).usage == 512 << 10)
        #expect(try device.memoryBudget(heap: 0).usage == heap0)
        #expect(try device.memoryBudget(heap: 1).budget == 1 << 20)
        try buffer.release()
        #expect(try device.memoryBudget(heap: 1).usage == 0)
    }

    @Test(arguments: TestBackend.virtioCases) func anAllocationPastTheHeapsBudgetIsMemoryErrorAndTheDeviceGoesOn(_ backend: TestBackend) throws {
        let session = try devices.session(backend, own: Self.twoHeaps)
        let device = session.device
        let first = try device.createBuffer(size: 768 << 10, memoryTypeIndex: 1)
        expectStatus(.memoryError) { _ = try device.createBuffer(size: 512 << 10, memoryTypeIndex: 1) }
        #expect(try device.memoryBudget(heap: 1).usage == 768 << 10)
        // The device still makes buffers of the heap's room and of other heaps, and runs work.
        let second = try device.createBuffer(size: 256 << 10, memoryTypeIndex: 1)
        #expect(try device.memoryBudget(heap: 1) == MemoryBudget(budget: 1 << 20, usage: 1 << 20))
        let (target, targetAddress) = try session.mappedBuffer(size: 4096)
        try session.run(fillStream(address: targetAddress, size: 4096, pattern: 0xB0D6E7))
        #expect(try target.u32s(1024).allSatisfy { $0 == 0xB0D6E7 })
        try first.release()
        try second.release()
    }

    @Test(arguments: TestBackend.virtioCases) func unknownMemoryTypesAndHeapsAreInvalidArgs(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let device = session.device
        let types = UInt32(device.physicalDevice.memoryProperties.types.count)
        let heaps = UInt32(device.physicalDevice.memoryProperties.heaps.count)
        expectStatus(.invalidArgs) { _ = try device.createBuffer(size: 4096, memoryTypeIndex: types) }
        expectStatus(.invalidArgs) { _ = try device.memoryBudget(heap: heaps) }
        let exported = try device.createBuffer(size: 4096).export()
        expectStatus(.invalidArgs) { _ = try device.importBuffer(exported, memoryTypeIndex: types) }
        #expect(device.home.error == nil)
        #expect(try session.device.createBuffer(size: 4096).size == 4096)
    }

    @Test(.drmBackend(.skipped(.softGPUDevice)), arguments: TestBackend.virtioCases) func anImportNamesItsMemoryType(_ backend: TestBackend) throws {
        let physical = try devices.physicalDevice(backend)
        let first = try physical.createDevice()
        let second = try physical.createDevice()
        defer { first.release(); second.release() }
        let buffer = try first.createBuffer(size: 8192)
        try buffer.mapCPU().storeBytes(of: 0xFACE, as: UInt32.self)
        let visible = try second.importBuffer(try buffer.export())
        #expect(visible.memoryTypeIndex == 0)
        #expect(try visible.u32s(1) == [0xFACE])
        let gpuOnly = try second.importBuffer(try buffer.export(), memoryTypeIndex: 1)
        #expect(gpuOnly.memoryTypeIndex == 1)
        expectStatus(.invalidArgs) { _ = try gpuOnly.mapCPU() }
    }

    @Test(arguments: TestBackend.virtioCases) func theDevicesBudgetCountsItsAddressSpaces(_ backend: TestBackend) throws {
        let session = try devices.session(backend, own: Self.twoHeaps)
        let device = session.device
        let other = try device.createAddressSpace()
        let buffer = try device.createBuffer(size: 128 << 10, memoryTypeIndex: 1)
        try session.space.map(buffer, gpuAddress: 0x1000_0000, size: buffer.size, flags: .read)
        try other.map(buffer, gpuAddress: 0x1000_0000, size: buffer.size, flags: .read)
        #expect(try device.memoryBudget(heap: 1) == MemoryBudget(budget: 1 << 20, usage: 384 << 10))
        // A released address space holds nothing any more.
        other.release()
        #expect(try device.memoryBudget(heap: 1).usage == 256 << 10)
    }

    // MARK: Queue families

    @Test(arguments: TestBackend.virtioCases) func queuesComeFromAFamily(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        #expect(session.queue.family == SoftGPUIdentity.computeFamily, "the default family is the first with compute")
        let transfer = try session.device.createQueue(in: session.space, family: SoftGPUIdentity.transferFamily, priority: .low)
        #expect(transfer.family == SoftGPUIdentity.transferFamily)
        #expect(transfer.priority == .low)
        let (source, sourceAddress) = try session.mappedBuffer(size: 8192)
        let (target, targetAddress) = try session.mappedBuffer(size: 8192)
        var stream = CommandStream()
        stream.fill(address: sourceAddress, size: 8192, pattern: 0x7A45)
        stream.copy(from: sourceAddress, to: targetAddress, size: 8192)
        stream.end()
        try session.run(stream, on: transfer)
        #expect(try target.u32s(2048).allSatisfy { $0 == 0x7A45 })
        #expect(try source.u32s(1) == [0x7A45])
    }

    @Test(arguments: TestBackend.virtioCases) func aWrongFamilyIsInvalidArgsAndTheAddressSpaceGoesOn(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let families = UInt32(session.device.physicalDevice.queueFamilies.count)
        expectStatus(.invalidArgs) { _ = try session.device.createQueue(in: session.space, family: families) }
        #expect(session.space.error == nil)
        let (target, targetAddress) = try session.mappedBuffer(size: 4096)
        try session.run(fillStream(address: targetAddress, size: 4096, pattern: 5))
        #expect(try target.u32s(1) == [5])
    }

    @Test(arguments: TestBackend.virtioCases) func aTransferQueueRefusesADispatch(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let transfer = try session.device.createQueue(in: session.space, family: SoftGPUIdentity.transferFamily)
        let (_, zAddress) = try session.mappedBuffer(size: 4096)
        var stream = CommandStream()
        stream.dispatch(programAddress: zAddress, programSize: 64, workgroupCount: 1, workgroupSize: 64, arguments: [zAddress])
        stream.end()
        let done = try session.device.createSyncObject()
        try session.submit(stream, on: transfer, signals: [done])
        expectStatus(.contextKilled) { try done.wait(timeoutNanoseconds: 60_000_000_000) }
        #expect(try transfer.checkStatus() == .contextKilled)
        #expect(session.space.error?.message.contains("transfer-only") == true, "\(String(describing: session.space.error))")
        // The device's other address spaces go on.
        let space = try session.device.createAddressSpace()
        let queue = try session.device.createQueue(in: space)
        let (target, targetAddress) = try session.mappedBuffer(size: 4096, in: space)
        try session.run(fillStream(address: targetAddress, size: 4096, pattern: 11), on: queue)
        #expect(try target.u32s(1) == [11])
    }

    // MARK: Submission by GPU address

    @Test(arguments: TestBackend.virtioCases) func aSubmissionByGPUAddressRunsTheStreamMappedThere(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, targetAddress) = try session.mappedBuffer(size: 4096)
        let stream = fillStream(address: targetAddress, size: 4096, pattern: 0xADD7E55)
        let (commands, commandsAddress) = try session.mappedBuffer(size: 4096, flags: .read)
        try commands.mapCPU().copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        let gate = try session.device.createSyncObject()
        let done = try session.device.createSyncObject()
        try session.queue.submit(SubmitInfo(commands: .gpuAddress(commandsAddress, length: UInt64(stream.bytes.count)),
                                            waitSyncObjects: [gate], signalSyncObjects: [done]))
        expectStatus(.timedOut) { try done.wait(timeoutNanoseconds: 20_000_000) }
        try gate.signal()
        try done.wait(timeoutNanoseconds: 60_000_000_000)
        #expect(try target.u32s(1024).allSatisfy { $0 == 0xADD7E55 })
    }

    @Test(arguments: TestBackend.virtioCases) func aSubmissionByGPUAddressOfAnUnmappedRangeFaults(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let done = try session.device.createSyncObject()
        try session.queue.submit(SubmitInfo(commands: .gpuAddress(0x7000_0000, length: 64), signalSyncObjects: [done]))
        expectStatus(.contextKilled) { try done.wait(timeoutNanoseconds: 60_000_000_000) }
        #expect(try session.queue.checkStatus() == .contextKilled)
    }

    @Test(arguments: TestBackend.virtioCases) func aSubmissionByGPUAddressOfNoBytesOrPastTheEndIsInvalidArgs(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        expectStatus(.invalidArgs) { try session.queue.submit(SubmitInfo(commands: .gpuAddress(0x1000, length: 0))) }
        expectStatus(.invalidArgs) { try session.queue.submit(SubmitInfo(commands: .gpuAddress(UInt64.max - 8, length: 64))) }
        let end = session.device.physicalDevice.info.limits.addressSpaceSize
        expectStatus(.invalidArgs) { try session.queue.submit(SubmitInfo(commands: .gpuAddress(end - 8, length: 16))) }
        #expect(session.space.error == nil)
    }
}
