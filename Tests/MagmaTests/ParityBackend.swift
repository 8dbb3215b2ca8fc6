import MagmaDevices
import Testing

/// Where a Fuchsia-parity test runs: the embedded device, or a MagmaServer in this process
/// reached through its socket.
enum ParityBackend: String, CaseIterable, CustomTestStringConvertible {
    case embedded
    case server

    var testDescription: String { rawValue }

    /// A session on this backend; keep the returned server (if any) alive while using it.
    func session() throws -> (GPUSession, TestServer?) {
        switch self {
        case .embedded: return (try GPUSession(device: try Device.open(.embedded)), nil)
        case .server:
            let server = try TestServer()
            return (try server.session(), server)
        }
    }
}
