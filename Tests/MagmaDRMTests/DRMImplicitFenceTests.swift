import Glibc
@testable import MagmaDRM
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SystemPackage
import Testing

/// Implicit fences on dma-bufs, with vgem's CPU-controlled fences (every kernel here has them):
/// DMA_BUF_IOCTL_EXPORT_SYNC_FILE and IMPORT_SYNC_FILE.
@Suite(.hangGuard, .drmPresent) struct DRMImplicitFenceTests {
    /// A timeout that only a broken wait reaches.
    private static let longTimeout: UInt64 = 10_000_000_000

    private func readable(_ descriptor: FileDescriptor) throws -> Bool {
        try Poller.poll([PollRequest(descriptor: descriptor)], timeoutNanoseconds: 0)[0]
    }

    @Test func aDMABufWithoutFencesExportsASignaledSyncFile() throws {
        let vgem = try DRMTestEnvironment.connection(.vgem)
        let buffer = try vgem.createBuffer(size: 4096, memoryType: 0, name: "")
        let dmaBuf = try buffer.export()
        let syncFile = try DMABuf.exportSyncFile(dmaBuf.fileDescriptor, .readWrite)
        #expect(try readable(syncFile.fileDescriptor))
    }

    @Test func aSyncFileImportedIntoADMABufBecomesItsImplicitFence() throws {
        let vgem = try DRMTestEnvironment.connection(.vgem)
        let fenced = try #require(try vgem.createBuffer(size: 4096, memoryType: 0, name: "") as? DRMBuffer)
        let target = try vgem.createBuffer(size: 4096, memoryType: 0, name: "")
        let fence = try vgem.file.attachVGEMFence(to: fenced.handle, write: true)
        let fencedDMABuf = try fenced.export()
        let pending = try DMABuf.exportSyncFile(fencedDMABuf.fileDescriptor, .read)
        let targetDMABuf = try target.export()
        try DMABuf.importSyncFile(pending.fileDescriptor, into: targetDMABuf.fileDescriptor, .write)
        let seen = try DMABuf.exportSyncFile(targetDMABuf.fileDescriptor, .read)
        #expect(try !readable(seen.fileDescriptor), "the target now waits on vgem's fence")
        try vgem.file.signalVGEMFence(fence)
        #expect(try Poller.poll([PollRequest(descriptor: seen.fileDescriptor)], timeoutNanoseconds: Self.longTimeout)[0])
    }
}
