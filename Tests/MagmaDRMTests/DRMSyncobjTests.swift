import Glibc
@testable import MagmaDRM
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SystemPackage
import Testing

/// Whether the guest's virtio_gpu has syncobjs (Linux 6.12 yes, 6.1 no): the syncobj suite
/// runs where it does, and the "no syncobj" suite checks UNIMPLEMENTED on every driver without.
private let virtioHasSyncobj = DRMTestEnvironment.enabled
    && (DRMDevices.all().first { $0.driver.name == "virtio_gpu" }?.capabilities.syncobjTimeline ?? false)

/// Semaphores as DRM syncobjs on virtio_gpu: signal, reset, waits with timeouts, the poll
/// descriptor, sharing as an opaque fd and as a sync_file, fences from vgem, timelines.
@Suite(.hangGuard, .drmPresent,
       .enabled(if: virtioHasSyncobj, "virtio_gpu on this kernel has no (timeline) syncobjs: Linux 6.12 has them, 6.1 not (DRMNoSyncobjTests covers that)"))
struct DRMSyncobjTests {
    /// Milliseconds, for timeouts that must pass (never asserted as durations).
    private static let shortTimeout: UInt64 = 20_000_000
    /// A timeout that only a broken wait reaches.
    private static let longTimeout: UInt64 = 10_000_000_000

    private func readable(_ descriptor: FileDescriptor) throws -> Bool {
        try Poller.poll([PollRequest(descriptor: descriptor)], timeoutNanoseconds: 0)[0]
    }

    @Test func signalAndResetAreSeenByTheKernelAndThePollDescriptor() throws {
        let connection = try DRMTestEnvironment.connection(.virtioGPU)
        let semaphore = try #require(try connection.createSemaphore() as? DRMSemaphore)
        #expect(!semaphore.isSignaled)
        #expect(try !readable(semaphore.pollDescriptor))
        semaphore.signal()
        #expect(semaphore.isSignaled)
        #expect(try readable(semaphore.pollDescriptor))
        let descriptor = semaphore.pollDescriptor
        semaphore.reset()
        #expect(!semaphore.isSignaled)
        #expect(semaphore.pollDescriptor == descriptor, "stable across resets")
        #expect(try !readable(semaphore.pollDescriptor), "a reset re-arms the poll descriptor")
        semaphore.signal()
        #expect(try readable(semaphore.pollDescriptor))
        try connection.release(semaphore)
    }

    @Test func aWaitTimesOutUntilSignaledAndTheErrnoIsETIME() throws {
        let connection = try DRMTestEnvironment.connection(.virtioGPU)
        let semaphore = try #require(try connection.createSemaphore() as? DRMSemaphore)
        #expect { try semaphore.wait(timeoutNanoseconds: Self.shortTimeout) } throws: { DRMTestEnvironment.isError($0, .timedOut, errno: ETIME) }
        semaphore.signal()
        try semaphore.wait(timeoutNanoseconds: Self.longTimeout)
    }

    @Test func waitAnyReportsWhichSignaledAndWaitAllNeedsEvery() throws {
        let connection = try DRMTestEnvironment.connection(.virtioGPU)
        let first = try #require(try connection.createSemaphore() as? DRMSemaphore)
        let second = try #require(try connection.createSemaphore() as? DRMSemaphore)
        second.signal()
        #expect(try connection.file.waitSyncobjs([first.handle, second.handle], all: false, timeoutNanoseconds: Self.longTimeout) == 1)
        #expect { try connection.file.waitSyncobjs([first.handle, second.handle], all: true, timeoutNanoseconds: Self.shortTimeout) } throws: {
            DRMTestEnvironment.isError($0, .timedOut)
        }
        first.signal()
        try connection.file.waitSyncobjs([first.handle, second.handle], all: true, timeoutNanoseconds: Self.longTimeout)
    }

    @Test func anExportedSyncobjIsSharedByTheImportingConnection() throws {
        let owner = try DRMTestEnvironment.connection(.virtioGPU)
        let other = try DRMTestEnvironment.connection(.virtioGPU)
        let semaphore = try owner.createSemaphore()
        let shared = try #require(try other.importSemaphore(try semaphore.export(), flags: []) as? DRMSemaphore)
        #expect(!shared.isSignaled)
        semaphore.signal()
        #expect(shared.isSignaled, "one container, two handles")
        #expect(try readable(shared.pollDescriptor))
        shared.reset()
        #expect(!semaphore.isSignaled)
    }

    @Test func aSyncFileCarriesTheFenceNotTheContainer() throws {
        let owner = try DRMTestEnvironment.connection(.virtioGPU)
        let other = try DRMTestEnvironment.connection(.virtioGPU)
        let semaphore = try #require(try owner.createSemaphore() as? DRMSemaphore)
        #expect { _ = try semaphore.exportSyncFile() } throws: { DRMTestEnvironment.isError($0, .badState, errno: EINVAL) }
        semaphore.signal()
        let snapshot = try #require(try other.importSemaphore(try semaphore.exportSyncFile(), flags: []) as? DRMSemaphore)
        #expect(snapshot.isSignaled)
        semaphore.reset()
        #expect(snapshot.isSignaled, "a sync_file is a snapshot of the fence")
    }

    @Test func aSignaledSemaphoreExportsAReadableSyncFileThatSignalsAnother() throws {
        let owner = try DRMTestEnvironment.connection(.virtioGPU)
        let other = try DRMTestEnvironment.connection(.virtioGPU)
        #expect(owner.hasSyncFiles)
        let semaphore = try owner.createSemaphore()
        semaphore.signal()
        let syncFile = try owner.exportSyncFile(of: semaphore)
        #expect(try readable(syncFile.fileDescriptor), "a sync_file of a signaled fence polls readable")
        let target = try other.createSemaphore()
        #expect(!target.isSignaled)
        try other.importSyncFile(syncFile, into: target)
        #expect(target.isSignaled)
        #expect(try readable(target.pollDescriptor), "the poll descriptor sees the imported fence")
        target.reset()
        #expect(!target.isSignaled)
        #expect(try !readable(target.pollDescriptor))
        #expect(try readable(syncFile.fileDescriptor), "the import left the caller's sync_file open")
    }

    @Test func syncFileCallsRefuseWhatTheyCannotUse() throws {
        let owner = try DRMTestEnvironment.connection(.virtioGPU)
        let other = try DRMTestEnvironment.connection(.virtioGPU)
        let semaphore = try owner.createSemaphore()
        #expect { _ = try owner.exportSyncFile(of: semaphore) } throws: { DRMTestEnvironment.isError($0, .badState) }
        semaphore.signal()
        #expect { _ = try other.exportSyncFile(of: semaphore) } throws: { DRMTestEnvironment.isError($0, .invalidArgs) }
        // A descriptor that is no sync_file (an opaque syncobj one) changes nothing.
        let opaque = try semaphore.export()
        #expect { try owner.importSyncFile(opaque, into: semaphore) } throws: { DRMTestEnvironment.isError($0, .invalidArgs, errno: EINVAL) }
        #expect(semaphore.isSignaled)
        let syncFile = try owner.exportSyncFile(of: semaphore)
        #expect { try other.importSyncFile(syncFile, into: semaphore) } throws: { DRMTestEnvironment.isError($0, .invalidArgs) }
        try owner.release(semaphore)
        #expect { try owner.importSyncFile(syncFile, into: semaphore) } throws: { DRMTestEnvironment.isError($0, .invalidArgs) }
    }

    @Test func aOneShotImportIgnoresReset() throws {
        let connection = try DRMTestEnvironment.connection(.virtioGPU)
        let semaphore = try connection.createSemaphore()
        let oneShot = try connection.importSemaphore(try semaphore.export(), flags: .oneShot)
        semaphore.signal()
        oneShot.reset()
        #expect(oneShot.isSignaled)
    }

    @Test func aVgemFenceGatesAVirtioGPUSemaphoreThroughASyncFile() throws {
        let vgem = try DRMTestEnvironment.connection(.vgem)
        let gpu = try DRMTestEnvironment.connection(.virtioGPU)
        let buffer = try #require(try vgem.createBuffer(size: 4096, memoryType: 0, name: "") as? DRMBuffer)
        let fence = try vgem.file.attachVGEMFence(to: buffer.handle, write: true)
        let dmaBuf = try buffer.export()
        let syncFile = try DMABuf.exportSyncFile(dmaBuf.fileDescriptor, .read)
        let semaphore = try #require(try gpu.importSemaphore(syncFile, flags: []) as? DRMSemaphore)
        #expect(!semaphore.isSignaled, "vgem's fence is pending")
        #expect(try !readable(semaphore.pollDescriptor))
        try vgem.file.signalVGEMFence(fence)
        try semaphore.wait(timeoutNanoseconds: Self.longTimeout)
        #expect(try Poller.poll([PollRequest(descriptor: semaphore.pollDescriptor)], timeoutNanoseconds: Self.longTimeout)[0])
        #expect { try vgem.file.signalVGEMFence(fence) } throws: { DRMTestEnvironment.isError($0, .invalidArgs, errno: ENOENT) }
    }

    @Test func aDescriptorThatIsNeitherSyncobjNorSyncFileIsInvalidArgs() throws {
        let connection = try DRMTestEnvironment.connection(.virtioGPU)
        let memfd = try SharedMemory.create(size: 4096)
        #expect { _ = try connection.importSemaphore(try #require(memfd.descriptor).duplicate(), flags: []) } throws: { DRMTestEnvironment.isError($0, .invalidArgs) }
    }

    @Test func releasingTwiceIsInvalidArgsAndDestroysOnce() throws {
        let connection = try DRMTestEnvironment.connection(.virtioGPU)
        let semaphore = try #require(try connection.createSemaphore() as? DRMSemaphore)
        try connection.release(semaphore)
        #expect { try connection.release(semaphore) } throws: { DRMTestEnvironment.isError($0, .invalidArgs) }
        #expect { try connection.file.destroySyncobj(semaphore.handle) } throws: { DRMTestEnvironment.isError($0, .invalidArgs, errno: EINVAL) }
        #expect(!semaphore.isSignaled)
        #expect { _ = try semaphore.export() } throws: { DRMTestEnvironment.isError($0, .badState) }
    }

    @Test func closingTheConnectionDestroysItsSyncobjs() throws {
        let connection = try DRMTestEnvironment.connection(.virtioGPU)
        let semaphore = try #require(try connection.createSemaphore() as? DRMSemaphore)
        let timeline = try connection.createTimeline()
        connection.close()
        #expect { try connection.file.destroySyncobj(semaphore.handle) } throws: { DRMTestEnvironment.isError($0, .invalidArgs, errno: EINVAL) }
        #expect { try connection.file.destroySyncobj(timeline.handle) } throws: { DRMTestEnvironment.isError($0, .invalidArgs, errno: EINVAL) }
    }

    @Test func aTimelineSignalsQueriesAndWaitsForPoints() throws {
        let connection = try DRMTestEnvironment.connection(.virtioGPU)
        let timeline = try connection.createTimeline()
        #expect(try timeline.signaledPoint() == 0)
        try timeline.signal(5)
        #expect(try timeline.signaledPoint() == 5)
        try timeline.wait(for: 3, timeoutNanoseconds: Self.longTimeout)
        #expect { try timeline.wait(for: 7, timeoutNanoseconds: Self.shortTimeout) } throws: { DRMTestEnvironment.isError($0, .timedOut) }
        let other = try DRMTestEnvironment.connection(.virtioGPU)
        let exported = try timeline.export()
        let shared = try other.file.importSyncobj(exported.fileDescriptor)
        #expect(try other.file.queryTimelinePoints([shared]) == [5], "the importer sees the same timeline")
        try other.file.destroySyncobj(shared)
        try connection.release(timeline)
        #expect { try connection.release(timeline) } throws: { DRMTestEnvironment.isError($0, .invalidArgs) }
        #expect { _ = try timeline.signaledPoint() } throws: { DRMTestEnvironment.isError($0, .badState) }
    }

    @Test func pollThroughThePublicAPIEndsWhenTheSyncobjSignals() throws {
        let info = try DRMTestEnvironment.device(driver: "virtio_gpu")
        let connection = try Device.open(.named(info.locatorName)).createConnection()
        let semaphore = try connection.createSemaphore()
        #expect { _ = try Poll.wait([.semaphore(semaphore)], timeoutNanoseconds: Self.shortTimeout) } throws: { DRMTestEnvironment.isError($0, .timedOut) }
        semaphore.signal()
        #expect(try Poll.wait([.semaphore(semaphore)], timeoutNanoseconds: Self.longTimeout) == [true])
        semaphore.reset()
        #expect(!semaphore.isSignaled)
        try connection.release(semaphore)
    }
}

/// Drivers without syncobjs answer semaphores and timelines UNIMPLEMENTED, with the kernel's
/// EOPNOTSUPP: vgem always, virtio_gpu on Linux 6.1.
@Suite(.hangGuard, .drmPresent) struct DRMNoSyncobjTests {
    @Test func vgemHasNoSemaphores() throws {
        let vgem = try DRMTestEnvironment.connection(.vgem)
        #expect { _ = try vgem.createSemaphore() } throws: { DRMTestEnvironment.isError($0, .unimplemented, errno: EOPNOTSUPP) }
        #expect { _ = try vgem.createTimeline() } throws: { DRMTestEnvironment.isError($0, .unimplemented) }
    }

    @Test(.enabled(if: !virtioHasSyncobj, "virtio_gpu has syncobjs on this kernel (DRMSyncobjTests covers them)"))
    func virtioGPUWithoutSyncobjHasNoSemaphores() throws {
        let gpu = try DRMTestEnvironment.connection(.virtioGPU)
        #expect { _ = try gpu.createSemaphore() } throws: { DRMTestEnvironment.isError($0, .unimplemented, errno: EOPNOTSUPP) }
    }
}
