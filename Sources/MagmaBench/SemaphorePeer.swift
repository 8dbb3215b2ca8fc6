import Foundation
import MagmaDevices
import MagmaPlatform
import MagmaProtocol

/// The other process of the cross-process semaphore path. It connects to the benchmark's socket,
/// receives four eventfds (Magma's ping and pong, exported; the floor's ping and pong), then for
/// each command byte ("m" Magma, "f" floor) answers `rounds` pings with pongs and replies "d".
public enum SemaphorePeer {
    /// The argument that makes an executable act as the peer: `<argument> SOCKET ROUNDS`.
    public static let argument = "--semaphore-peer"

    /// Runs the peer until the benchmark closes the socket.
    public static func main(socketPath: String, rounds: Int) throws {
        let socket = try MessageSocket.connect(path: socketPath)
        guard case .message(_, let descriptors, _)? = try socket.receive(capacity: 16), descriptors.count == 4 else {
            throw MagmaError(.invalidArgs, "expected four eventfds")
        }
        let connection = try Device.open(.embedded).createConnection()
        let ping = try connection.importSemaphore(try descriptors[0].duplicate())
        let pong = try connection.importSemaphore(try descriptors[1].duplicate())
        let (rawPing, rawPong) = (descriptors[2].rawValue, descriptors[3].rawValue)
        try socket.send([UInt8(ascii: "r")])
        while case .message(let command, _, _)? = try socket.receive(capacity: 16), let mode = command.first {
            if mode == UInt8(ascii: "m") {
                try PingPong.serveMagma(ping: ping, pong: pong, rounds: rounds)
            } else {
                PingPong.serveRaw(ping: rawPing, pong: rawPong, rounds: rounds)
            }
            try socket.send([UInt8(ascii: "d")])
        }
        withExtendedLifetime(descriptors) { connection.release() }   // the raw eventfds stay open until here
    }
}

/// Signal-to-wake between two processes through Magma semaphores (signal, poll, reset; the peer
/// imports exported semaphores into its own connection), against raw eventfds with the same
/// syscalls. Half a ping-pong round trip is one signal-to-wake.
final class CrossProcessSemaphoreWake: BenchmarkPath {
    let name = "semaphore signal-to-wake (cross-process)"
    let unit = "wake"
    let operations: Int
    private let semaphores: PingPongSemaphores
    private let peer: PeerProcess
    private let channel: MessageSocket
    private let directory: String

    init(operations: Int, peerExecutable: URL) throws {
        self.operations = operations
        let semaphores = try PingPongSemaphores()
        self.semaphores = semaphores
        directory = FileManager.default.temporaryDirectory.appending(path: "magma-peer-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = "\(directory)/peer"
        let listener = try MessageSocket.listen(path: path, permissions: 0o600)
        peer = try PeerProcess(executable: peerExecutable.path, arguments: [SemaphorePeer.argument, path, String(operations / 2)])
        channel = try listener.accept()
        let fds = [try semaphores.ping.export(), try semaphores.pong.export(),
                   try semaphores.rawPing.descriptor.duplicate(), try semaphores.rawPong.descriptor.duplicate()]
        try withExtendedLifetime(fds) { try channel.send([0], descriptors: fds.map(\.fileDescriptor)) }
        _ = try channel.receive(capacity: 16)   // ready
    }

    private func round(_ mode: Character, _ body: () throws -> Void) throws {
        try channel.send([UInt8(ascii: mode == "m" ? "m" : "f")])
        try body()
        _ = try channel.receive(capacity: 16)
    }

    func runMagma() throws {
        try round("m") { try PingPong.driveMagma(ping: semaphores.ping, pong: semaphores.pong, rounds: operations / 2) }
    }

    func runFloor() throws {
        try round("f") {
            PingPong.driveRaw(ping: semaphores.rawPing.descriptor.rawValue, pong: semaphores.rawPong.descriptor.rawValue, rounds: operations / 2)
        }
    }

    func close() {
        channel.shutdown()
        peer.wait()
        semaphores.connection.release()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
