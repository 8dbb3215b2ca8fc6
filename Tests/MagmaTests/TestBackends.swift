@testable import Magma
import Glibc
import MagmaDevices
import MagmaDRM
import MagmaVirtio
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
/// The DRM backend (`.drm`: the virtio_gpu device of the QEMU guest, docs/drm.md) is in
/// `allCases` only where there is a DRM device (the guest). It runs no GPU work here, so each
/// behaviour suite says what its tests do on it with a `.drmBackend(...)` trait
/// (DRMBackendTrait.swift): the object tests that need no execution run (buffers, semaphores,
/// CPU-only timelines, sync_files, the Mesa face's devices, buffers and sync objects), and every
/// other test's `drm` case is cancelled with the reason, which the guest's output lists.
/// `MAGMA_TEST_BACKENDS` (a comma-separated list of raw values, "drm") replaces `allCases`: the
/// guest's CI step runs the behaviour suites on `drm` alone, their embedded and socket cases
/// having run on the host.
///
/// The virtio backends (`.virtio`: MagmaVirtio over the socket emulation, against a device model
/// with SoftGPU in the test's process, docs/virtio.md; `.virtioOneTimeline`: the same with a
/// device without CONTEXT_INIT, one fence timeline) run the tests whose arguments are
/// `virtioCases`: execution, semaphores, timeline semaphores and CPU
/// waits, mappings, ownership, faults and driver notifications, queue families, budgets,
/// the bind queue (timeline points included), GPU-address streams, buffer basics, connections
/// and device queries (a buffer answer's bytes come in the reply), and export and import between connections (a process's connections
/// are contexts of one guest: buffers are shared as one resource attached to both contexts, its
/// exported descriptor the resource's own memory (a memfd here, a dma-buf on the guest kernel),
/// semaphores and timelines through the host's share table, a semaphore's exported descriptor
/// its mirror eventfd). It does not run, and why:
/// - `aPreemptedDispatchResumesAndFinishesCorrectly`: it needs the big work still running when
///   the small one has finished, which the extra round trips of every virtio submission do not leave.
/// The Mesa face's suites (`MesaTestDevices`) run on it too, every test but the DRM ones.
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
    /// The guest's virtio_gpu, a Linux DRM device (MagmaDRM); what its tests do on it is their
    /// suite's `.drmBackend(...)` declaration.
    case drm
    /// MagmaVirtio over the socket emulation, against a device model (MagmaVirtioHost) with
    /// SoftGPU in the test's process; the suites of `virtioCases` only (see there).
    case virtio
    /// `.virtio` with a guest device that offers no CONTEXT_INIT, as a guest kernel behind QEMU's
    /// vhost-user-gpu is: every fence of the guest on one timeline, kept moving by the host's
    /// preemption of waits (docs/virtio.md). The same suites as `.virtio`.
    case virtioOneTimeline = "virtio-one-timeline"
    /// MagmaVirtio on a guest kernel's virtio_gpu render node (`virtgpu:<node>`): only in the
    /// QEMU guest whose virtio-gpu is the Magma device (vhost-user-gpu on magma-vhost-user-gpu,
    /// one fence timeline), and only by `MAGMA_TEST_BACKENDS=virtgpu`; the suites of `virtioCases`.
    case virtgpu

    /// The backends every behaviour test runs on: `MAGMA_TEST_BACKENDS` where it is set, else
    /// the embedded and socket backends, and the DRM device where there is one.
    /// The virtio backends are not among them (they run the suites of `virtioCases` only).
    static let allCases: [TestBackend] = fromEnvironment.map { $0.filter { !$0.isVirtio } }
        ?? softGPUCases + (DRMTestDevice.info != nil ? [.drm] : [])
    /// The backends that run SoftGPU: for tests about what those backends do with something
    /// else (a DRM device's dma-buf), not about the backend under test.
    static let softGPUCases: [TestBackend] = [.embedded, .socket]

    /// `MAGMA_TEST_BACKENDS`, parsed; a name that is no backend stops the run.
    private static var fromEnvironment: [TestBackend]? {
        guard let value = getenv("MAGMA_TEST_BACKENDS").map({ String(cString: $0) }) else { return nil }
        return value.split(separator: ",").map { name in
            guard let backend = TestBackend(rawValue: String(name)) else { fatalError("MAGMA_TEST_BACKENDS: no backend \(name)") }
            return backend
        }
    }

    /// `allCases` and the virtio backends (with and without CONTEXT_INIT), for the tests they
    /// run; `MAGMA_TEST_BACKENDS` where it is set (so `virtgpu` runs in its guest alone).
    static let virtioCases: [TestBackend] = fromEnvironment ?? allCases + [.virtio, .virtioOneTimeline]

    /// Whether it is one of the virtio backends.
    var isVirtio: Bool { self == .virtio || self == .virtioOneTimeline || self == .virtgpu }

    var testDescription: String { rawValue }
}

/// The DRM device the `.drm` backend opens: the first virtio_gpu render node, if any.
enum DRMTestDevice {
    static let info: DRMDeviceInfo? = DRMDevices.all().first { $0.driver.name == "virtio_gpu" }

    /// The device, for a test that uses a DRM device beside the backend under test; INVALID_ARGS
    /// where there is none.
    static func open() throws -> Device {
        let info = try #require(info, "no virtio_gpu DRM device")
        return try Device.open(.named(info.locatorName))
    }

    /// Ends a `.virtgpu` test case that needs a SoftGPU configuration of its own, not failed,
    /// with the reason as a warning (Swift Testing 6.3 prints no reason for a cancellation).
    static func skipOwnConfiguration(_ sourceLocation: SourceLocation) throws -> Never {
        try skip("it needs a SoftGPU configuration of its own, and the guest's device is the back-end's", sourceLocation)
    }

    /// Ends a `.virtgpu` test case of COMMIT and DECOMMIT: the guest kernel pins a virtio-gpu
    /// resource's pages while the host has them attached, so DECOMMIT is UNIMPLEMENTED there.
    static func skipCommitAndDecommit(on backend: TestBackend, sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard backend == .virtgpu else { return }
        try skip("DECOMMIT: the guest kernel pins a resource's pages for the host", sourceLocation)
    }

    private static func skip(_ why: String, _ sourceLocation: SourceLocation) throws -> Never {
        let reason = "not on the virtgpu backend: \(why)"
        Issue.record(Comment(rawValue: reason), severity: .warning, sourceLocation: sourceLocation)
        try Test.cancel(Comment(rawValue: reason), sourceLocation: sourceLocation)
    }

    /// The `virtgpu:` name of that render node (`.virtgpu`: the guest's Magma device).
    static func virtgpuName() throws -> String {
        let info = try #require(info, "no virtio_gpu DRM device")
        return DeviceLocator.virtgpuPrefix + info.renderNodePath
    }
}

/// Opens the devices of one test and tears their servers down after it. A suite keeps one as a
/// stored property: Swift Testing makes a suite instance for every test and every argument, so
/// the servers live exactly as long as the test that opened them.
final class TestDevices: Sendable {
    private let servers = Locked<[TestServer]>([])
    private let virtioServers = Locked<[VirtioTestServer]>([])

    /// A device on `backend`. With no configuration: the embedded device every test shares, or a
    /// server of its own with SoftGPU's defaults. With one: a device of its own running SoftGPU
    /// with it, on either backend. On `.drm`: the DRM device, where the running test's
    /// `.drmBackend(...)` declaration lets it run; otherwise the test case is cancelled here.
    func open(_ backend: TestBackend, own configuration: SoftGPUConfiguration? = nil,
              sourceLocation: SourceLocation = #_sourceLocation) throws -> Device {
        switch backend {
        case .embedded:
            guard let configuration else { return try Device.open(.embedded) }
            return try Device.open(.inProcess(SoftGPUDriver(configuration: configuration)))
        case .socket:
            let server = try TestServer(softGPU: configuration ?? SoftGPUConfiguration())
            servers.withLock { $0.append(server) }
            return try server.open()
        case .virtio, .virtioOneTimeline:
            let server = try VirtioTestServer(softGPU: configuration ?? SoftGPUConfiguration())
            virtioServers.withLock { $0.append(server) }
            return try server.open(contextInit: backend == .virtio)
        case .drm:
            try DRMBackendSupport.check(DRMBackendSupport.current, sourceLocation: sourceLocation)
            precondition(configuration == nil, "the DRM device runs no SoftGPU")
            return try DRMTestDevice.open()
        case .virtgpu:
            if configuration != nil { try DRMTestDevice.skipOwnConfiguration(sourceLocation) }
            return try Device.open(.named(try DRMTestDevice.virtgpuName()))
        }
    }

    /// A connection with one context on a device of `backend` (see `open`).
    func session(_ backend: TestBackend, own configuration: SoftGPUConfiguration? = nil, priority: Priority = .medium,
                 sourceLocation: SourceLocation = #_sourceLocation) throws -> GPUSession {
        try GPUSession(device: try open(backend, own: configuration, sourceLocation: sourceLocation), priority: priority)
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

    /// Its device, as a guest whose device offers CONTEXT_INIT or not.
    func open(contextInit: Bool) throws -> Device {
        contextInit ? try Device.open(.virtio(server.path)) : try Device.open(.backend(VirtioDeviceBackend(path: server.path, contextInit: false)))
    }
}

extension Connection {
    /// The primary-protocol transport under a connection of the embedded or socket backend.
    var primaryTransport: (any PrimaryTransport)? { (backend as? PrimaryConnection)?.transport }
}
