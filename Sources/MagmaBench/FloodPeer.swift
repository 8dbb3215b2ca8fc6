import Foundation
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import SoftGPU

/// A client process of magmad that floods it until it is killed, for the flood rows
/// (`ClientFlood`). Kinds:
/// - `messages`: batches of 255 inline commands as fast as the connection takes them, never
///   reading a completion notification (magmad's flow control and notification backlog bound
///   apply; if magmad drops it, it connects again and goes on);
/// - `imports`: imports of one exported buffer into its own connection until magmad refuses
///   one (its import bounds), then releases them all and starts again;
/// - `queries`: device queries, each a round trip, back to back.
/// Once flooding, it creates its ready file.
public enum FloodPeer {
    /// The argument that makes an executable act as the peer: `<argument> SOCKET KIND READY-FILE`.
    public static let argument = "--flood-peer"

    /// The kinds of flood, in the rows' order.
    static let kinds = ["messages", "imports", "queries"]

    /// Floods until the process is killed; throws only if it cannot start.
    public static func main(socketPath: String, kind: String, readyPath: String) throws {
        let device = try Device.open(.socket(socketPath))
        var ready = false
        while true {
            do {
                switch kind {
                case "messages": try floodMessages(device) { signalReady(readyPath, &ready) }
                case "imports": try floodImports(device) { signalReady(readyPath, &ready) }
                case "queries": try floodQueries(device) { signalReady(readyPath, &ready) }
                default: throw MagmaError(.invalidArgs, "no flood kind \(kind)")
                }
            } catch let error as MagmaError where error.status != .invalidArgs {
                usleep(1_000)   // dropped or refused by magmad (its bounds): connect again and go on
            }
        }
    }

    private static func signalReady(_ path: String, _ ready: inout Bool) {
        guard !ready else { return }
        ready = FileManager.default.createFile(atPath: path, contents: nil)
    }

    private static func floodMessages(_ device: Device, started: () -> Void) throws {
        let connection = try device.createConnection()
        defer { connection.release() }
        let context = try connection.createContext()
        var end = CommandStream()
        end.end()
        let batch = Array(repeating: InlineCommand(data: end.bytes), count: 255)
        while true {
            try connection.executeInline(on: context, batch)
            started()
        }
    }

    private static func floodImports(_ device: Device, started: () -> Void) throws {
        let connection = try device.createConnection()
        defer { connection.release() }
        let exported = try connection.createBuffer(size: 4096).export()
        while true {
            var imported: [Buffer] = []
            while let buffer = try? connection.importBuffer(try exported.duplicate()) {
                imported.append(buffer)
                started()
            }
            if let error = connection.error { throw error }
            for buffer in imported { try connection.release(buffer) }
        }
    }

    private static func floodQueries(_ device: Device, started: () -> Void) throws {
        while true {
            _ = try device.queryValue(.deviceId)
            started()
        }
    }
}
