import Glibc
import Magma
@testable import MagmaDRM
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// Sharing between backends: a kernel driver's buffer (vgem, virtio_gpu), exported as a dma-buf
/// and imported into the embedded SoftGPU device, is read and written by GPU work there, and
/// the driver's own CPU mapping sees the result.
@Suite(.hangGuard, .drmPresent) struct DRMSharingTests {
    @Test(arguments: GuestDriver.allCases)
    func softGPUWorkReadsAndWritesADRMBuffer(driver: GuestDriver) throws {
        let drm = try DRMTestEnvironment.connection(driver)
        let kernelBuffer = try #require(try drm.createBuffer(size: 8192, memoryType: 0, name: "") as? DRMBuffer)
        let kernelBytes = try kernelBuffer.cpuMapping()
        for index in 0..<4096 { kernelBytes[index] = UInt8(truncatingIfNeeded: index &* 13 &+ 1) }

        let device = try Device.open(.embedded)
        let connection = try device.createConnection()
        defer { connection.release() }
        let context = try connection.createContext()
        let imported = try connection.importBuffer(try kernelBuffer.export())
        #expect(imported.size == 8192, "the dma-buf's size, from the kernel")
        try connection.map(imported, at: 0x100_0000, flags: [.read, .write])
        let copy = try connection.createBuffer(size: 4096)
        try connection.map(copy, at: 0x200_0000, flags: [.read, .write])

        // The GPU copies the driver's first page out and fills its second page.
        var stream = CommandStream()
        stream.copy(from: 0x100_0000, to: 0x200_0000, size: 4096)
        stream.fill(address: 0x100_1000, size: 4096, pattern: 0xC0FF_EE11)
        stream.end()
        try run(stream, on: context, of: connection)

        let copied = try copy.bytes
        #expect((0..<4096).allSatisfy { copied[$0] == UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }, "the GPU read the driver's bytes")
        let dmaBuf = try kernelBuffer.export()
        try DMABuf.sync(dmaBuf.fileDescriptor, .read, ending: false)
        let filled = (0..<1024).map { kernelBytes.load(fromByteOffset: 4096 + $0 * 4, as: UInt32.self) }
        try DMABuf.sync(dmaBuf.fileDescriptor, .read, ending: true)
        #expect(filled.allSatisfy { $0 == 0xC0FF_EE11 }, "the driver's mapping sees the GPU's writes")
        try connection.release(imported)
        try drm.release(kernelBuffer)
    }

    @Test(arguments: GuestDriver.allCases)
    func anImportedDMABufIsResidentAndCannotBeDecommitted(driver: GuestDriver) throws {
        let drm = try DRMTestEnvironment.connection(driver)
        let kernelBuffer = try #require(try drm.createBuffer(size: 4096, memoryType: 0, name: "") as? DRMBuffer)
        let connection = try Device.open(.embedded).createConnection()
        defer { connection.release() }
        let imported = try connection.importBuffer(try kernelBuffer.export())
        #expect(imported.info.committedByteCount == 4096, "the exporter's pages are resident")
        try connection.perform(.commit, on: imported, offset: 0, length: 4096)
        #expect { try connection.perform(.decommit, on: imported, offset: 0, length: 4096) } throws: {
            ($0 as? MagmaError)?.status == .unimplemented
        }
        try connection.release(imported)
        try drm.release(kernelBuffer)
    }
}

/// Submits `stream` on `context` and waits for its completion semaphore.
fileprivate func run(_ stream: CommandStream, on context: Context, of connection: Connection) throws {
    let commands = try connection.createBuffer(size: UInt64(stream.bytes.count))
    try commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
    let done = try connection.createSemaphore()
    try connection.execute(on: context, CommandDescriptor(
        resources: [BufferRange(bufferId: commands.id, offset: 0, length: UInt64(stream.bytes.count))],
        commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: [], signalSemaphores: [done.id]))
    while !done.isSignaled {
        if let error = connection.error { throw error }
        _ = try Poll.wait([.semaphore(done)], timeoutNanoseconds: 50_000_000)
    }
}

/// The reverse: an embedded SoftGPU buffer's memfd, filled by GPU work there, made a dma-buf
/// with udmabuf and imported by a kernel driver (vgem; virtio_gpu imports no foreign dma-buf
/// without blob resources).
@Suite(.hangGuard, .drmPresent) struct UDMABufSharingTests {
    static let hasUDMABuf = access(UDMABuf.devicePath, F_OK) == 0

    @Test(.enabled(if: hasUDMABuf, "no /dev/udmabuf on this kernel (Linux 6.1 in the guest): withoutUDMABufTheBridgeIsUnimplemented runs instead"))
    func vgemImportsAnEmbeddedBufferThroughUDMABuf() throws {
        let connection = try Device.open(.embedded).createConnection()
        defer { connection.release() }
        let buffer = try connection.createBuffer(size: 8192)
        try connection.map(buffer, at: 0x100_0000, flags: [.read, .write])
        var stream = CommandStream()
        stream.fill(address: 0x100_0000, size: 8192, pattern: 0x5EED_F00D)
        stream.end()
        try run(stream, on: try connection.createContext(), of: connection)
        let embeddedBytes = try buffer.bytes
        let dmaBuf = try UDMABuf.dmaBuf(ofMemfd: try buffer.export())
        let vgem = try DRMTestEnvironment.connection(.vgem)
        let kernelBuffer = try #require(try vgem.importBuffer(dmaBuf) as? DRMBuffer)
        #expect(kernelBuffer.size == 8192)
        let seen = try kernelBuffer.withCPUAccess(.readWrite) { bytes in
            let copy = Array(bytes[0..<8192])
            bytes[100] = 0xAB
            return copy
        }
        let words = seen.withUnsafeBytes { raw in (0..<2048).map { raw.load(fromByteOffset: $0 * 4, as: UInt32.self) } }
        #expect(words.allSatisfy { $0 == 0x5EED_F00D }, "vgem's object holds what SoftGPU wrote")
        #expect(embeddedBytes[100] == 0xAB, "and writes through vgem land in the embedded buffer")
        try vgem.release(kernelBuffer)
    }

    /// Linux 6.1 in the guest (Debian's bookworm kernel) has no /dev/udmabuf: the bridge is
    /// UNIMPLEMENTED, saying so, and the embedded buffer is untouched and still exports.
    @Test(.enabled(if: !hasUDMABuf, "this kernel has /dev/udmabuf (vgemImportsAnEmbeddedBufferThroughUDMABuf runs)"))
    func withoutUDMABufTheBridgeIsUnimplemented() throws {
        let connection = try Device.open(.embedded).createConnection()
        defer { connection.release() }
        let buffer = try connection.createBuffer(size: 4096)
        try buffer.bytes.storeBytes(of: 0x6_1, as: UInt32.self)
        let error = #expect(throws: MagmaError.self) { _ = try UDMABuf.dmaBuf(ofMemfd: try buffer.export()) }
        #expect(error?.status == .unimplemented)
        #expect(error?.message.contains(UDMABuf.devicePath) == true, "\(String(describing: error))")
        let again = try connection.importBuffer(try buffer.export())
        #expect(try again.bytes.load(as: UInt32.self) == 0x6_1)
    }

    @Test(.enabled(if: hasUDMABuf, "no /dev/udmabuf on this kernel")) func virtioGPURefusesAUDMABufAsUnimplemented() throws {
        let connection = try Device.open(.embedded).createConnection()
        defer { connection.release() }
        let dmaBuf = try UDMABuf.dmaBuf(ofMemfd: try connection.createBuffer(size: 4096).export())
        let virtio = try DRMTestEnvironment.connection(.virtioGPU)
        #expect { _ = try virtio.importBuffer(dmaBuf) } throws: { DRMTestEnvironment.isError($0, .unimplemented) }
    }
}
