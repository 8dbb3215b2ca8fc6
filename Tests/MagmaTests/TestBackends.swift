@testable import Magma
import MagmaDevices
import MagmaDRM
import MagmaVirtioHost
import Foundation
@testable import MagmaPrimary
import MagmaPlatform
import MagmaProtocol
import SoftGPU
import Testing

/// Where a behaviour test's device runs. Every behaviour that does not depend on where the
/// system driver runs is a test parameterized over `TestBackend.allCases`; a new backend (DRM,
/// virtio) is a new case here and in `TestDevices.open`.
///
/// The DRM backend (`.drm`: the virtio_gpu device of the QEMU guest, docs/drm.md) cannot run
/// GPU work here, so it is not in `allCases`: it joins only the object tests that need no
/// execution, through `bufferCases` (BufferTests: ids and page rounding, size checks, double
/// release, names, cache calls, many handles of one buffer, unsealed memfds) and
/// `semaphoreCases` (SemaphoreAndPollTests: signal and reset, sharing across connections,
/// non-semaphore imports, poll timeouts and wake-ups; SyncFileTests' sync_file round trip;
/// BufferTests' non-buffer imports, which
/// export a semaphore; TimelineSemaphoreTests' CPU-only tests, on timeline syncobjs). It is
/// there only where DRM is (the
/// guest); and for semaphores only where virtio_gpu has timeline syncobjs (Linux 6.12). The
/// rest are Fuchsia-backend tests: execution, commit and decommit, eventfd exports.
///
/// The virtio backend (`.virtio`: MagmaVirtio over the socket emulation, against a device model
/// with SoftGPU in the test's process, docs/virtio.md) runs the tests whose arguments are
/// `virtioCases`, `virtioBufferCases` or `virtioSemaphoreCases`: execution, semaphores and CPU
/// waits, mappings, ownership and faults that fail the connection, queue families, budgets,
/// the bind queue, GPU-address streams, buffer basics, connections and device queries. It does
/// not run, and why:
/// - export and import of buffers and semaphores (a guest's buffer is its resource and a
///   semaphore lives on the host; nothing crosses to another connection as a descriptor):
///   `exportedBufferSharesMemoryWithAnotherConnection`, `manyHandlesFromOneBufferAllMapTheSameBytes`,
///   `importRejectsDescriptorsThatAreNotBuffers`, `regularFileIsRejected`, `unsealedMemfdIsRejected`,
///   `oneMemoryMappedManyTimesThroughImports`, `anImportCountsInTheImportingConnection`,
///   `wrongMemoryTypesAndHeapsAreInvalidArgs`, `exportedSemaphoreSharesStateAcrossConnections`,
///   `exportedDescriptorIsAPollableEventfd`, `importRejectsDescriptorsThatAreNotSemaphores`,
///   `aPartialPageDecommitIsRejectedAndChangesNothing`, `decommitZeroesAndReleasesExactlyItsPages`
///   (they export);
/// - timeline semaphores (not offered over virtio yet): `TimelineSemaphoreTests`,
///   `aBindWaitsForATimelinePointAndSignalsOne`, `anUnmapOfABufferComputeStillUsesIsBadStateWhenTheBindRuns`,
///   `aStreamAtAGPUAddressWaitsForAndSignalsTimelinePoints`, `aStreamAtAGPUAddressThatFaultsFailsItsSignalTimelines`;
/// - driver notifications (faults, illegal commands, hangs, completions: no notification channel
///   over virtio yet; the connection's failure does arrive): `readingUnmappedMemoryFaultsAndKillsTheContext`,
///   `malformedCommandsKillTheContext`, `theWatchdogStopsAnInfiniteLoopWhileOthersKeepRunning`,
///   `completionNotificationsCountSubmissionsInOrder`, `pollOnTheNotificationChannel`,
///   `aTransferContextRefusesADispatch`, `anUnmappedRangeFaultsAndTheDeviceGoesOn`,
///   `computeThatRunsBeforeTheBindFaults`, `depopulatedPagesFaultUntilRepopulated`, `writingReadOnlyMemoryFaults`;
/// - guest pages are always resident, so COMMIT and DECOMMIT do not apply (DECOMMIT is
///   UNIMPLEMENTED, committed bytes are the size): `commitAndDecommitCheckTheirRange`, `infoReportsSizeAndCommitment`;
/// - queries answered with a buffer: `totalTimeIsABufferResultThatGrowsWithWork`;
/// - `aPreemptedDispatchResumesAndFinishesCorrectly`: it needs the big work still running when
///   the small one has finished, which the extra round trips of every virtio submission do not leave;
/// - the Mesa face's suites (`MesaTestDevices`), which import buffers and sync objects into
///   address spaces.
///
/// Behaviour tests that run on the embedded device only, and why:
/// - `ExecutionTests.higherPriorityContextsRunFirst`, `SchedulingTests.higherPriorityPreemptsRunningWorkAtOnce`,
///   `ConnectionTests.trustedInProcessClientsMayUseHighPriority`: priorities above medium need a
///   trusted client, and socket clients never are (`SocketTransportTests.socketClientsAreUntrusted`).
enum TestBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// MagmaSystem and SoftGPU in the test's process.
    case embedded
    /// A MagmaServer in the test's process, reached through its Unix socket as magmad is.
    case socket
    /// The guest's virtio_gpu, a Linux DRM device (MagmaDRM); object tests only (see above).
    case drm
    /// MagmaVirtio over the socket emulation, against a device model (MagmaVirtioHost) with
    /// SoftGPU in the test's process; the suites of `virtioCases` only (see there).
    case virtio

    /// The backends every behaviour test runs on.
    static let allCases: [TestBackend] = [.embedded, .socket]
    /// `allCases`, and the DRM device where there is one.
    static let bufferCases: [TestBackend] = allCases + (DRMTestDevice.info != nil ? [.drm] : [])
    /// `allCases`, and the DRM device where it has the syncobjs semaphores need.
    static let semaphoreCases: [TestBackend] = allCases + (DRMTestDevice.info?.capabilities.syncobjTimeline == true ? [.drm] : [])

    /// `allCases` and the virtio backend, for the tests it runs.
    static let virtioCases: [TestBackend] = allCases + [.virtio]
    /// `bufferCases` and the virtio backend.
    static let virtioBufferCases: [TestBackend] = bufferCases + [.virtio]
    /// `semaphoreCases` and the virtio backend.
    static let virtioSemaphoreCases: [TestBackend] = semaphoreCases + [.virtio]

    var testDescription: String { rawValue }
}

/// The DRM device the `.drm` backend opens: the first virtio_gpu render node, if any.
enum DRMTestDevice {
    static let info: DRMDeviceInfo? = DRMDevices.all().first { $0.driver.name == "virtio_gpu" }
}

/// Opens the devices of one test and tears their servers down after it. A suite keeps one as a
/// stored property: Swift Testing makes a suite instance for every test and every argument, so
/// the servers live exactly as long as the test that opened them.
final class TestDevices: Sendable {
    private let servers = Locked<[TestServer]>([])
    private let virtioServers = Locked<[VirtioTestServer]>([])

    /// A device on `backend`. With no configuration: the embedded device every test shares, or a
    /// server of its own with SoftGPU's defaults. With one: a device of its own running SoftGPU
    /// with it, on either backend.
    func open(_ backend: TestBackend, own configuration: SoftGPUConfiguration? = nil) throws -> Device {
        switch backend {
        case .embedded:
            guard let configuration else { return try Device.open(.embedded) }
            return try Device.open(.inProcess(SoftGPUDriver(configuration: configuration)))
        case .socket:
            let server = try TestServer(softGPU: configuration ?? SoftGPUConfiguration())
            servers.withLock { $0.append(server) }
            return try server.open()
        case .virtio:
            let server = try VirtioTestServer(softGPU: configuration ?? SoftGPUConfiguration())
            virtioServers.withLock { $0.append(server) }
            return try Device.open(.virtio(server.server.path))
        case .drm:
            precondition(configuration == nil, "the DRM device runs no SoftGPU")
            let info = try #require(DRMTestDevice.info, "no virtio_gpu DRM device")
            return try Device.open(.named(info.locatorName))
        }
    }

    /// A connection with one context on a device of `backend` (see `open`).
    func session(_ backend: TestBackend, own configuration: SoftGPUConfiguration? = nil, priority: Priority = .medium) throws -> GPUSession {
        try GPUSession(device: try open(backend, own: configuration), priority: priority)
    }
}

/// A virtio-gpu device model serving SoftGPU over the socket emulation, in the test's process,
/// stopped when the test ends.
final class VirtioTestServer: Sendable {
    let server: VirtioSocketServer

    init(softGPU configuration: SoftGPUConfiguration) throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-virtio-\(UUID().uuidString.prefix(8))").path
        server = try VirtioSocketServer(path: path, device: try Device.open(.inProcess(SoftGPUDriver(configuration: configuration))))
        try server.start()
    }

    deinit { server.stop() }
}

extension Connection {
    /// The primary-protocol transport under a connection of the embedded or socket backend.
    var primaryTransport: (any PrimaryTransport)? { (backend as? PrimaryConnection)?.transport }
}
