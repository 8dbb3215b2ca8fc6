import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// Queue families: a compute family that runs everything and a transfer-only family whose
/// engine refuses dispatches, on every backend; and the physical device's description.
@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct QueueFamilyTests {
    let devices = TestDevices()

    @Test(.drmBackend(.skipped(.softGPUDevice)), arguments: TestBackend.virtioCases) func theDeviceDescribesItself(_ backend: TestBackend) throws {
        let info = try devices.open(backend).physicalDeviceInfo()
        #expect(UInt64(info.vendorId) == SoftGPUIdentity.vendorId)
        #expect(UInt64(info.deviceId) == SoftGPUIdentity.deviceId)
        #expect(UInt64(info.driverVersion) == SoftGPUIdentity.vendorVersion)
        #expect(info.name == "SoftGPU")
        #expect(info.driverName == "softgpu")
        #expect(info.limits == DeviceLimits(addressSpaceSize: 1 << 48, pageSize: UInt64(SharedMemory.pageSize),
                                            maxAllocationSize: SoftGPUConfiguration.defaultMemoryHeaps[0].size))
        #expect(info.queueFamilies.map(\.flags) == [[.compute, .transfer], [.transfer], [.sparseBinding]])
        #expect(info.queueFamilies.allSatisfy { !$0.flags.contains(.graphics) })
        #expect(info.queueFamilies.map(\.runsBinds) == [false, false, true], "the bind family runs binds only")
        #expect(try devices.open(backend).queueFamilies() == info.queueFamilies)
    }

    @Test(arguments: TestBackend.virtioCases) func aTransferContextRunsFillsAndCopies(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let transfer = try session.connection.createContext(queueFamily: SoftGPUIdentity.transferFamily)
        #expect(transfer.queueFamily == SoftGPUIdentity.transferFamily)
        let (source, sourceAddress) = try session.mappedBuffer(size: 8192)
        let (target, targetAddress) = try session.mappedBuffer(size: 8192)
        var stream = CommandStream()
        stream.fill(address: sourceAddress, size: 8192, pattern: 0xC0FFEE)
        stream.copy(from: sourceAddress, to: targetAddress, size: 8192)
        let done = try session.connection.createSemaphore()
        try session.submit(stream, signals: [done], on: transfer)
        try session.waitFor(done)
        #expect(try target.u32s(2048).allSatisfy { $0 == 0xC0FFEE })
        #expect(try Array(source.bytes) == Array(target.bytes))
    }

    @Test(arguments: TestBackend.virtioCases) func aTransferContextRefusesADispatch(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let transfer = try session.connection.createContext(queueFamily: SoftGPUIdentity.transferFamily)
        let (_, zAddress) = try session.mappedBuffer(size: 4096)
        let program = try session.loadProgram(Kernels.sumU32)
        var stream = CommandStream()
        stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: 1, workgroupSize: 64,
                        arguments: [zAddress, zAddress, 0])
        try session.submit(stream, on: transfer)
        let error = try #require(awaitError(session.connection))
        #expect(error.status == .contextKilled)
        #expect(error.message.contains("transfer-only"), "\(error)")
        #expect(try session.notifications().contains { if case .illegalCommand = $0 { true } else { false } })
        // The device goes on serving.
        #expect(try devices.session(backend).fillsCorrectly(pattern: 9))
    }

    @Test(arguments: TestBackend.virtioCases) func theComputeFamilyRunsDispatches(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let compute = try session.connection.createContext(queueFamily: SoftGPUIdentity.computeFamily, priority: .low)
        #expect(compute.priority == .low)
        let (input, inputAddress) = try session.mappedBuffer(size: 4096)
        let (total, totalAddress) = try session.mappedBuffer(size: 4096)
        for i in 0..<64 { try input.contents.storeBytes(of: UInt32(i), toByteOffset: i * 4, as: UInt32.self) }
        let program = try session.loadProgram(Kernels.sumU32)
        var stream = CommandStream()
        stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: 1, workgroupSize: 64,
                        arguments: [inputAddress, totalAddress, 64])
        let done = try session.connection.createSemaphore()
        try session.submit(stream, signals: [done], on: compute)
        try session.waitFor(done)
        #expect(try total.u32(at: 0) == 63 * 64 / 2)
    }

    @Test(arguments: TestBackend.virtioCases) func anUnknownFamilyIsInvalidArgs(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        _ = try connection.createContext(queueFamily: UInt32(SoftGPUIdentity.queueFamilies.count))
        expectStatus(.invalidArgs) { try connection.flush() }
    }

    @Test(arguments: TestBackend.virtioCases) func aFamilyHoldsItsCountOfContexts(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let count = SoftGPUIdentity.queueFamilies[Int(SoftGPUIdentity.transferFamily)].count
        var contexts = try (0..<count).map { _ in try connection.createContext(queueFamily: SoftGPUIdentity.transferFamily) }
        try connection.flush()
        try connection.release(contexts.removeLast())
        contexts.append(try connection.createContext(queueFamily: SoftGPUIdentity.transferFamily))
        try connection.flush()
        _ = try connection.createContext(queueFamily: SoftGPUIdentity.transferFamily)
        expectStatus(.memoryError) { try connection.flush() }
    }
}
