@testable import Magma
import MagmaDevices
@testable import MagmaPrimary
import MagmaPlatform
import MagmaProtocol
import SoftGPU
import Testing

/// Where a behaviour test's device runs. Every behaviour that does not depend on where the
/// system driver runs is a test parameterized over `TestBackend.allCases`; a new backend (DRM,
/// virtio) is a new case here and in `TestDevices.open`.
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

    var testDescription: String { rawValue }
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
