import Glibc
@testable import MagmaDRM
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Testing

/// Buffers as kernel objects on vgem (dumb buffers on the card node) and virtio_gpu
/// (resources on the render node): made, mapped on demand, exported and imported as dma-bufs,
/// and their GEM handles closed exactly once.
@Suite(.hangGuard, .drmPresent) struct DRMBufferTests {
    @Test(arguments: GuestDriver.allCases)
    func aBufferIsZeroedPageRoundedAndMappedOnce(driver: GuestDriver) throws {
        let connection = try DRMTestEnvironment.connection(driver)
        let buffer = try connection.createBuffer(size: 10_000, memoryType: 0, name: "")
        #expect(buffer.size == 12_288, "rounded up to pages")
        let memory = try buffer.cpuMapping()
        #expect(memory.count == 12_288)
        #expect(memory.allSatisfy { $0 == 0 }, "a new buffer object reads as zeros")
        for index in memory.indices { memory[index] = UInt8(truncatingIfNeeded: index &* 7) }
        let again = try buffer.cpuMapping()
        #expect(again.baseAddress == memory.baseAddress, "the same mapping every time")
        #expect(again[4097] == UInt8(truncatingIfNeeded: 4097 &* 7))
        try connection.release(buffer)
    }

    @Test(arguments: GuestDriver.allCases)
    func aSecondMemoryTypeIsInvalidArgs(driver: GuestDriver) throws {
        let connection = try DRMTestEnvironment.connection(driver)
        #expect { _ = try connection.createBuffer(size: 4096, memoryType: 1, name: "") } throws: { DRMTestEnvironment.isError($0, .invalidArgs) }
    }

    @Test(arguments: GuestDriver.allCases)
    func reimportingOnesOwnExportSharesTheHandleAndClosesItOnce(driver: GuestDriver) throws {
        let connection = try DRMTestEnvironment.connection(driver)
        let original = try #require(try connection.createBuffer(size: 4096, memoryType: 0, name: "") as? DRMBuffer)
        let imported = try #require(try connection.importBuffer(try original.export()) as? DRMBuffer)
        #expect(imported.handle == original.handle, "PRIME gives the file's existing handle for its own object")
        #expect(imported.id != original.id, "but the import is a buffer of its own")
        #expect(imported.size == original.size)

        try original.cpuMapping().storeBytes(of: 0xC0FFEE, toByteOffset: 64, as: UInt32.self)
        try connection.release(original)
        // The handle is still open for the import: it maps, exports and reads the same object.
        let seen = try imported.withCPUAccess(.read) { $0.load(fromByteOffset: 64, as: UInt32.self) }
        #expect(seen == 0xC0FFEE)
        _ = try imported.export()

        try connection.release(imported)
        #expect { try connection.file.closeGEMHandle(imported.handle) } throws: { DRMTestEnvironment.isError($0, .invalidArgs, errno: EINVAL) }
    }

    @Test(arguments: GuestDriver.allCases)
    func releasingTwiceIsInvalidArgsAndClosesNothingMore(driver: GuestDriver) throws {
        let connection = try DRMTestEnvironment.connection(driver)
        let first = try #require(try connection.createBuffer(size: 4096, memoryType: 0, name: "") as? DRMBuffer)
        try connection.release(first)
        // The kernel may hand the freed handle number to the next object: a second release
        // of the first buffer must not close it.
        let second = try #require(try connection.createBuffer(size: 4096, memoryType: 0, name: "") as? DRMBuffer)
        #expect { try connection.release(first) } throws: { DRMTestEnvironment.isError($0, .invalidArgs) }
        _ = try second.export()
        try connection.release(second)
    }

    @Test(arguments: GuestDriver.allCases)
    func aBadHandleIsInvalidArgsWithTheKernelsErrno(driver: GuestDriver) throws {
        let connection = try DRMTestEnvironment.connection(driver)
        #expect { try connection.file.closeGEMHandle(0xDEAD) } throws: { DRMTestEnvironment.isError($0, .invalidArgs, errno: EINVAL) }
        #expect { _ = try connection.file.exportDMABuf(0xDEAD) } throws: { DRMTestEnvironment.isError($0, .invalidArgs, errno: ENOENT) }
        #expect { _ = try DRMDrivers.driver(named: driver.rawValue).mapOffset(in: connection.file, handle: 0xDEAD) } throws: {
            DRMTestEnvironment.isError($0, .invalidArgs)
        }
    }

    @Test(arguments: GuestDriver.allCases)
    func aBufferReleasedBeforeMappingHasNoCPUMappingButAMappedOneKeepsIt(driver: GuestDriver) throws {
        let connection = try DRMTestEnvironment.connection(driver)
        let unmapped = try connection.createBuffer(size: 4096, memoryType: 0, name: "")
        try connection.release(unmapped)
        #expect { _ = try unmapped.cpuMapping() } throws: { DRMTestEnvironment.isError($0, .badState) }
        #expect { _ = try unmapped.export() } throws: { DRMTestEnvironment.isError($0, .badState) }

        let mapped = try connection.createBuffer(size: 4096, memoryType: 0, name: "")
        let memory = try mapped.cpuMapping()
        try connection.release(mapped)
        memory.storeBytes(of: 41, toByteOffset: 0, as: UInt64.self)
        #expect(try mapped.cpuMapping().load(as: UInt64.self) == 41, "the mapping holds the object after release")
    }

    @Test(arguments: GuestDriver.allCases)
    func closingTheConnectionClosesEveryHandle(driver: GuestDriver) throws {
        let connection = try DRMTestEnvironment.connection(driver)
        let buffer = try #require(try connection.createBuffer(size: 4096, memoryType: 0, name: "") as? DRMBuffer)
        connection.close()
        #expect { try connection.file.closeGEMHandle(buffer.handle) } throws: { DRMTestEnvironment.isError($0, .invalidArgs, errno: EINVAL) }
        #expect(connection.error?.status == .connectionLost)
        #expect { _ = try connection.createBuffer(size: 4096, memoryType: 0, name: "") } throws: { DRMTestEnvironment.isError($0, .connectionLost) }
    }

    @Test func aVirtioGPUBufferImportedIntoVgemShowsTheSameBytes() throws {
        let gpu = try DRMTestEnvironment.connection(.virtioGPU)
        let vgem = try DRMTestEnvironment.connection(.vgem)
        let source = try gpu.createBuffer(size: 8192, memoryType: 0, name: "")
        try source.cpuMapping().storeBytes(of: 0x1234_5678, toByteOffset: 4100, as: UInt32.self)
        let imported = try #require(try vgem.importBuffer(try source.export()) as? DRMBuffer)
        #expect(imported.isImported)
        #expect(imported.size == 8192)
        let seen = try imported.withCPUAccess(.readWrite) { memory in
            memory.storeBytes(of: 0xABCD, toByteOffset: 8, as: UInt32.self)
            return memory.load(fromByteOffset: 4100, as: UInt32.self)
        }
        #expect(seen == 0x1234_5678)
        #expect(try source.cpuMapping().load(fromByteOffset: 8, as: UInt32.self) == 0xABCD, "one object, two devices")
    }

    @Test func virtioGPURefusesAVgemBufferAsUnimplemented() throws {
        let gpu = try DRMTestEnvironment.connection(.virtioGPU)
        let vgem = try DRMTestEnvironment.connection(.vgem)
        let foreign = try vgem.createBuffer(size: 4096, memoryType: 0, name: "")
        #expect { _ = try gpu.importBuffer(try foreign.export()) } throws: { DRMTestEnvironment.isError($0, .unimplemented, errno: ENODEV) }
    }

    @Test(arguments: GuestDriver.allCases)
    func aDescriptorThatIsNotADMABufIsInvalidArgs(driver: GuestDriver) throws {
        let connection = try DRMTestEnvironment.connection(driver)
        let memfd = try SharedMemory.create(size: 4096)
        #expect { _ = try connection.importBuffer(try #require(memfd.descriptor).duplicate()) } throws: { DRMTestEnvironment.isError($0, .invalidArgs) }
    }

    @Test func vgemMakesNoDumbBufferOnItsRenderNode() throws {
        let vgem = try DRMTestEnvironment.device(driver: "vgem")
        let render = try DRMFile(path: vgem.renderNodePath)
        #expect { _ = try DRMDrivers.driver(named: "vgem").createBuffer(in: render, size: 4096) } throws: {
            DRMTestEnvironment.isError($0, .accessDenied, errno: EACCES)
        }
    }
}
