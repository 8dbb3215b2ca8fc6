@testable import Magma
import MagmaDevices
import MagmaDRM
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

    /// The backends every behaviour test runs on.
    static let allCases: [TestBackend] = [.embedded, .socket]
    /// `allCases`, and the DRM device where there is one.
    static let bufferCases: [TestBackend] = allCases + (DRMTestDevice.info != nil ? [.drm] : [])
    /// `allCases`, and the DRM device where it has the syncobjs semaphores need.
    static let semaphoreCases: [TestBackend] = allCases + (DRMTestDevice.info?.capabilities.syncobjTimeline == true ? [.drm] : [])

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

extension Connection {
    /// The primary-protocol transport under a connection of the embedded or socket backend.
    var primaryTransport: (any PrimaryTransport)? { (backend as? PrimaryConnection)?.transport }
}
