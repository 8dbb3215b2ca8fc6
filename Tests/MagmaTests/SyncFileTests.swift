import Glibc
@testable import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// sync_file export and import of semaphores, through the Fuchsia face and Mesa's: real on the
/// DRM device (its syncobjs hold kernel fences; the guest only), UNIMPLEMENTED on the embedded
/// and magmad backends, whose eventfd semaphores hold none. The Mesa face's test on DRM makes
/// sync objects only (it runs no SoftGPU work, so no address space or queue). DRMSyncobjTests
/// checks the backend's side (poll readiness, refusals).
@Suite(.hangGuard, .drmBackend(.runsWithTimelineSyncobjs)) struct SyncFileTests {
    let devices = TestDevices()
    let mesaDevices = MesaTestDevices()

    @Test(arguments: TestBackend.virtioCases) func aSemaphoresFenceMovesAsASyncFileWhereTheBackendHasThem(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let source = try connection.createSemaphore()
        let target = try connection.createSemaphore()
        guard backend == .drm else {
            #expect(!connection.hasSyncFiles)
            source.signal()
            expectStatus(.unimplemented) { _ = try source.exportSyncFile() }
            expectStatus(.unimplemented) { try connection.importSyncFile(try source.export(), into: target) }
            #expect(!target.isSignaled)
            try connection.flush()
            return
        }
        #expect(connection.hasSyncFiles)
        expectStatus(.badState) { _ = try source.exportSyncFile() }
        source.signal()
        let syncFile = try source.exportSyncFile()
        try connection.importSyncFile(syncFile, into: target)
        #expect(target.isSignaled)
        source.reset()
        #expect(target.isSignaled, "the import took the fence, not the semaphore")
    }

    @Test(.drmBackend(.runsWithTimelineSyncobjs), arguments: TestBackend.allCases) func releasedAndForeignSemaphoresAreRefusedFirst(_ backend: TestBackend) throws {
        let device = try devices.open(backend)
        let owner = try device.createConnection()
        let other = try device.createConnection()
        let semaphore = try owner.createSemaphore()
        expectStatus(.invalidArgs) { try other.importSyncFile(try semaphore.export(), into: semaphore) }
        try owner.release(semaphore)
        expectStatus(.invalidArgs) { _ = try semaphore.exportSyncFile() }
        try owner.flush()
    }

    @Test(arguments: TestBackend.softGPUCases) func mesaSyncObjectsHaveNoSyncFilesOnTheFuchsiaBackends(_ backend: TestBackend) throws {
        let session = try mesaDevices.session(backend)
        let capabilities = try session.device.syncCapabilities
        #expect(capabilities.isDisjoint(with: [.exportSyncFile, .importSyncFile]))
        let binary = try session.device.createSyncObject()
        try binary.signal()
        expectStatus(.unimplemented) { _ = try binary.exportSyncFile() }
        expectStatus(.unimplemented) { try binary.importSyncFile(try binary.export()) }
        let timeline = try session.device.createSyncObject(.timeline(initialValue: 0))
        expectStatus(.invalidArgs) { _ = try timeline.exportSyncFile() }
        expectStatus(.invalidArgs) { try timeline.importSyncFile(try binary.export()) }
    }

    @Test(.enabled(if: DRMTestDevice.info?.capabilities.syncobjTimeline == true, "no DRM device with syncobjs here (the guest has one)"))
    func mesaSyncObjectsMoveFencesAsSyncFilesOnADRMDevice() throws {
        let info = try #require(DRMTestDevice.info)
        let device = try PhysicalDevice(device: Device.open(.named(info.locatorName)), name: info.locatorName).createDevice()
        defer { device.release() }
        #expect(try device.syncCapabilities.isSuperset(of: [.exportSyncFile, .importSyncFile]))
        let source = try device.createSyncObject()
        let target = try device.createSyncObject()
        expectStatus(.badState) { _ = try source.exportSyncFile() }
        try source.signal()
        try target.importSyncFile(try source.exportSyncFile())
        #expect(try target.isSignaled())
        try source.reset()
        #expect(try target.isSignaled(), "the import took the fence, not the sync object")
        let timeline = try device.createSyncObject(.timeline(initialValue: 0))
        expectStatus(.invalidArgs) { _ = try timeline.exportSyncFile() }
    }
}
