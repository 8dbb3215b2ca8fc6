import CMagmaLinux
import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import SystemPackage
import Testing

@Suite(.hangGuard, .drmBackend(.runs)) struct BufferTests {
    let devices = TestDevices()

    @Test(arguments: TestBackend.virtioCases) func buffersRoundUpToPagesAndHaveDistinctIds(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let page = UInt64(SharedMemory.pageSize)
        let first = try connection.createBuffer(size: page + 16)
        let second = try connection.createBuffer(size: page + 16)
        #expect(first.size >= page + 16)
        #expect(first.size % page == 0)
        #expect(first.id != second.id)
        #expect(first.id != invalidObjectId)
        try connection.release(second)
        try connection.release(first)
        try connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func zeroAndHugeSizesAreRejectedAtOnce(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        expectStatus(.invalidArgs) { _ = try connection.createBuffer(size: 0) }
        expectStatus(.invalidArgs) { _ = try connection.createBuffer(size: .max) }
        try connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func doubleReleaseIsATypedError(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let buffer = try connection.createBuffer(size: 4096)
        try connection.release(buffer)
        expectStatus(.invalidArgs) { try connection.release(buffer) }
        expectStatus(.invalidArgs) { try connection.map(buffer, at: 0x1000, flags: .read) }
        try connection.flush()
    }

    @Test(.drmBackend(.skipped(.commitAndDecommit)), arguments: TestBackend.virtioCases) func infoReportsSizeAndCommitment(_ backend: TestBackend) throws {
        try DRMTestDevice.skipCommitAndDecommit(on: backend)
        let connection = try devices.open(backend).createConnection()
        let buffer = try connection.createBuffer(size: 64 * 1024)
        #expect(buffer.info.size == 64 * 1024)
        #expect(buffer.info.committedByteCount == 0)
        try connection.perform(.commit, on: buffer, offset: 0, length: 16 * 1024)
        #expect(buffer.info.committedByteCount >= 16 * 1024)
        try buffer.contents.storeBytes(of: 0xDEAD_BEEF as UInt32, as: UInt32.self)
        try connection.perform(.decommit, on: buffer, offset: 0, length: 64 * 1024)
        #expect(buffer.info.committedByteCount == 0)
        #expect(try buffer.u32(at: 0) == 0, "decommitted pages read back as zero")
        expectStatus(.memoryError) { try connection.perform(.commit, on: buffer, offset: 60 * 1024, length: 8 * 1024) }
        try connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func cachePolicyAndCleanCache(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let buffer = try connection.createBuffer(size: 8192)
        #expect(buffer.cachePolicy == .cached)
        for policy in CachePolicy.allCases {
            buffer.setCachePolicy(policy)
            #expect(buffer.cachePolicy == policy)
        }
        try buffer.cleanCache(offset: 0, length: 8192, operation: .clean)
        try buffer.cleanCache(offset: 4096, length: 4096, operation: .cleanInvalidate)
        expectStatus(.invalidArgs) { try buffer.cleanCache(offset: 4096, length: 4097, operation: .clean) }
        expectStatus(.invalidArgs) { try buffer.cleanCache(offset: .max, length: 2, operation: .clean) }
    }

    @Test(arguments: TestBackend.virtioCases) func namesAreKeptAndTruncated(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let buffer = try connection.createBuffer(size: 4096, name: "vertices")
        #expect(buffer.name == "vertices")
        buffer.setName(String(repeating: "n", count: 100))
        #expect(buffer.name.utf8.count == Buffer.maxNameLength)
        buffer.setName(String(repeating: "é", count: 40))  // never cut inside a character
        #expect(buffer.name.utf8.count <= Buffer.maxNameLength)
        #expect(buffer.name.allSatisfy { $0 == "é" })
    }

    @Test(arguments: TestBackend.virtioCases) func manyHandlesFromOneBufferAllMapTheSameBytes(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let buffer = try connection.createBuffer(size: 4096)
        try buffer.contents.storeBytes(of: 0x1234_5678 as UInt32, as: UInt32.self)
        for _ in 0..<1000 {
            let handle = try buffer.handle()
            let mapped = mmap(nil, 4096, PROT_READ, MAP_SHARED, handle.rawValue, 0)!
            #expect(mapped.load(as: UInt32.self) == 0x1234_5678)
            munmap(mapped, 4096)
        }
    }

    @Test(.drmBackend(.skipped(.execution)), arguments: TestBackend.virtioCases) func exportedBufferSharesMemoryWithAnotherConnection(_ backend: TestBackend) throws {
        let device = try devices.open(backend)
        let producer = try GPUSession(device: device)
        let consumer = try GPUSession(device: device)
        let (source, sourceAddress) = try producer.mappedBuffer(size: 8192)
        var fill = CommandStream()
        fill.fill(address: sourceAddress, size: 8192, pattern: 0x5EED)
        try producer.run(fill)

        let own = try consumer.connection.createBuffer(size: 4096)
        let imported = try consumer.connection.importBuffer(try source.export())
        // Ids are the importing connection's own: new there, never 0.
        #expect(imported.id != 0 && imported.id != own.id)
        #expect(imported.size == source.size)
        #expect(try imported.u32(at: 8188) == 0x5EED)

        // The consumer's GPU reads the shared memory through its own mapping.
        let importedAddress = consumer.reserveAddress(imported.size)
        try consumer.connection.map(imported, at: importedAddress, flags: .read)
        let (copy, copyAddress) = try consumer.mappedBuffer(size: 8192)
        var stream = CommandStream()
        stream.copy(from: importedAddress, to: copyAddress, size: 8192)
        try consumer.run(stream)
        #expect(try copy.u32s(2048).allSatisfy { $0 == 0x5EED })
    }

    @Test(.drmBackend(.runsWithTimelineSyncobjs), arguments: TestBackend.virtioCases) func importRejectsDescriptorsThatAreNotBuffers(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        close(fds[1])
        expectStatus(.invalidArgs) { _ = try connection.importBuffer(OwnedFileDescriptor(taking: fds[0])) }
        let semaphore = try connection.createSemaphore()
        expectStatus(.invalidArgs) { _ = try connection.importBuffer(try semaphore.export()) }
        try connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func unsealedMemfdIsRejected(_ backend: TestBackend) throws {
        // A memfd whose size is not sealed could be truncated under the GPU.
        let connection = try devices.open(backend).createConnection()
        let fd = cmagma_memfd_create("unsealed")
        #expect(fd >= 0)
        #expect(ftruncate(fd, 4096) == 0)
        expectStatus(.invalidArgs) { _ = try connection.importBuffer(OwnedFileDescriptor(taking: fd)) }
    }

    @Test(arguments: TestBackend.virtioCases) func regularFileIsRejected(_ backend: TestBackend) throws {
        // Neither a sealed memfd nor a dma-buf: a regular file's size can change under a mapping.
        let connection = try devices.open(backend).createConnection()
        let fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)
        #expect(fd >= 0)
        #expect(!SharedMemory.isDMABuf(FileDescriptor(rawValue: fd)))
        expectStatus(.invalidArgs) { _ = try connection.importBuffer(OwnedFileDescriptor(taking: fd)) }
        try connection.flush()
    }

    @Test func onlyDMABufsAreRecognizedAsDMABufs() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        #expect(!SharedMemory.isDMABuf(FileDescriptor(rawValue: fds[0])))
        let memory = try SharedMemory.create(size: 4096)
        #expect(!SharedMemory.isDMABuf(try #require(memory.descriptor).fileDescriptor))
        #expect(memory.kind == .memfd)
        #expect { _ = try SharedMemory.importing(dmaBuf: try #require(memory.descriptor).duplicate()) } throws: { ($0 as? PlatformError)?.code == EINVAL }
    }

    @Test(.enabled(if: DRMTestDevice.info != nil, "no DRM device: runs in the QEMU guest (docs/drm.md)"), arguments: TestBackend.softGPUCases)
    func aKernelDriversDMABufImportsIntoTheEmbeddedDeviceOnly(_ backend: TestBackend) throws {
        let drm = try DRMTestDevice.open().createConnection()
        let kernelBuffer = try drm.createBuffer(size: 4096)
        try kernelBuffer.bytes.storeBytes(of: 0xD1A6_0B0F, as: UInt32.self)
        let dmaBuf = try kernelBuffer.export()
        #expect(SharedMemory.isDMABuf(dmaBuf.fileDescriptor))
        let connection = try devices.open(backend).createConnection()
        switch backend {
        case .embedded:
            let imported = try connection.importBuffer(dmaBuf)
            #expect(try imported.u32(at: 0) == 0xD1A6_0B0F, "the embedded mapping is the driver's memory")
        default:
            // magmad takes size-sealed memfds only: the client refuses at once, nothing is sent.
            expectStatus(.invalidArgs) { _ = try connection.importBuffer(dmaBuf) }
            try connection.flush()
        }
        try drm.release(kernelBuffer)
    }
}
