import Glibc
import MagmaDRM
import MagmaDevices
import MagmaProtocol
import MagmaTestSupport
import Testing

/// A DRM device through the public API, opened by name as `magmactl --device` and
/// `magma_device_open` open it: queries, connections, buffers shared between connections,
/// and what the backend cannot do here, answered UNIMPLEMENTED.
@Suite(.hangGuard, .drmPresent) struct DRMDeviceTests {
    private func open(_ driver: GuestDriver) throws -> Device {
        let info = try DRMTestEnvironment.device(driver: driver.rawValue)
        guard case .drm(let path) = DeviceLocator.named(info.locatorName), path == info.renderNodePath else {
            Issue.record("\(info.locatorName) does not name \(info.renderNodePath)")
            throw MagmaError(.invalidArgs)
        }
        return try Device.open(.named(info.locatorName))
    }

    @Test func queriesAnswerFromTheKernel() throws {
        let gpu = try open(.virtioGPU)
        #expect(try gpu.queryValue(.vendorId) == 0x1af4)
        #expect(try gpu.queryValue(.deviceId) == 0x1050)
        let info = try DRMTestEnvironment.device(driver: "virtio_gpu")
        #expect(try gpu.queryValue(.vendorVersion) == UInt64(info.driver.major) << 32 | UInt64(info.driver.minor) << 16 | UInt64(info.driver.patchLevel))
        #expect(try gpu.queryValue(.isTotalTimeSupported) == 0)
        #expect { _ = try gpu.query(.totalTime) } throws: { DRMTestEnvironment.isError($0, .unimplemented) }
        #expect { _ = try gpu.query(QueryId(rawValue: 0x4242)) } throws: { DRMTestEnvironment.isError($0, .invalidArgs) }
        let vgem = try open(.vgem)
        #expect { _ = try vgem.queryValue(.vendorId) } throws: { DRMTestEnvironment.isError($0, .unimplemented) }
    }

    @Test func thePhysicalDeviceIsWhatTheKernelReports() throws {
        let gpu = try open(.virtioGPU)
        let info = try gpu.physicalDeviceInfo()
        let kernel = try DRMTestEnvironment.device(driver: "virtio_gpu")
        #expect(info.vendorId == 0x1af4 && info.deviceId == 0x1050)
        #expect(info.driverName == "virtio_gpu")
        #expect(info.driverVersion == UInt32(kernel.driver.major << 16 | kernel.driver.minor))
        #expect(info.memoryProperties.types == [MemoryType(propertyFlags: [.hostVisible, .hostCoherent], heapIndex: 0)])
        #expect(info.memoryProperties.heaps.count == 1 && info.memoryProperties.heaps[0].size > 0)
        #expect(info.queueFamilies.isEmpty, "MagmaDRM submits no work")
        let connection = try gpu.createConnection()
        #expect { _ = try connection.memoryBudget(heap: 0) } throws: { DRMTestEnvironment.isError($0, .unimplemented) }
        #expect { _ = try connection.createBuffer(size: 4096, memoryType: 1) } throws: { DRMTestEnvironment.isError($0, .invalidArgs) }
        let buffer = try connection.createBuffer(size: 4096, memoryType: 0)
        #expect { _ = try connection.importBuffer(try buffer.export(), memoryType: 1) } throws: { DRMTestEnvironment.isError($0, .invalidArgs) }
        #expect(try open(.vgem).physicalDeviceInfo().vendorId == 0, "vgem is not a PCI device")
    }

    @Test(arguments: GuestDriver.allCases)
    func aBufferExportedFromOneConnectionIsImportedByAnother(driver: GuestDriver) throws {
        let device = try open(driver)
        let writer = try device.createConnection()
        let reader = try device.createConnection()
        let buffer = try writer.createBuffer(size: 3 * 4096, name: "shared")
        #expect(buffer.size == 3 * 4096)
        try buffer.bytes.storeBytes(of: 0x5EED, toByteOffset: 2 * 4096 + 12, as: UInt32.self)
        let imported = try reader.importBuffer(try buffer.export())
        #expect(imported.size == buffer.size)
        #expect(try imported.bytes.load(fromByteOffset: 2 * 4096 + 12, as: UInt32.self) == 0x5EED)
        try reader.release(imported)
        try writer.release(buffer)
        #expect { try writer.release(buffer) } throws: { $0 is MagmaError }
        try writer.flush()
    }

    @Test(arguments: GuestDriver.allCases)
    func whatNeedsADriverModuleIsUnimplemented(driver: GuestDriver) throws {
        let connection = try open(driver).createConnection()
        #expect { _ = try connection.createContext() } throws: { DRMTestEnvironment.isError($0, .unimplemented) }
        let buffer = try connection.createBuffer(size: 4096)
        #expect { try connection.map(buffer, at: 0x10_0000, flags: [.read]) } throws: { DRMTestEnvironment.isError($0, .unimplemented) }
        #expect { try connection.perform(.commit, on: buffer, offset: 0, length: 4096) } throws: { DRMTestEnvironment.isError($0, .unimplemented) }
        #expect(connection.error == nil, "an UNIMPLEMENTED answer is not sticky")
        try connection.release(buffer)
        let backend = try DRMTestEnvironment.connection(driver)
        #expect { try backend.executeInline(contextId: 1, []) } throws: { DRMTestEnvironment.isError($0, .unimplemented) }
        #expect { try backend.execute(contextId: 1, CommandDescriptor(resources: [], commandBuffers: [])) } throws: { DRMTestEnvironment.isError($0, .unimplemented) }
    }
}
