import CMagmaLinux
import Foundation
import Glibc
import Magma
import MagmaPlatform
import SystemPackage

/// The other process of the cross-process buffer path. It connects to the benchmark's socket and
/// answers each message (a mode byte and one descriptor) with "d" once it has imported the buffer
/// into its own connection and released it ("m"), or checked, mapped and unmapped the memfd with
/// the same syscalls and no Magma ("f").
public enum BufferPeer {
    /// The argument that makes an executable act as the peer: `<argument> SOCKET`.
    public static let argument = "--buffer-peer"

    /// Runs the peer until the benchmark closes the socket.
    public static func main(socketPath: String) throws {
        let socket = try MessageSocket.connect(path: socketPath)
        let connection = try Device.open(.embedded).createConnection()
        defer { connection.release() }
        while case .message(let command, var descriptors, _)? = try socket.receive(capacity: 16), let mode = command.first, descriptors.count == 1 {
            let descriptor = descriptors.removeLast()
            if mode == UInt8(ascii: "m") {
                try connection.release(try connection.importBuffer(descriptor))
            } else {
                mapAndUnmap(descriptor.rawValue)
            }
            try socket.send([UInt8(ascii: "d")])
        }
    }

    /// What importing a buffer costs without Magma: the seal and size checks, mmap, munmap, close.
    private static func mapAndUnmap(_ fd: Int32) {
        _ = cmagma_memfd_get_seals(fd)
        var info = stat()
        _ = fstat(fd, &info)
        let size = Int(info.st_size)
        let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        munmap(mapped, size)
    }
}

/// Sharing a buffer with another process: export it, send the descriptor over a Unix socket, and
/// wait while the peer imports it into its own connection and releases it. The floor sends a
/// duplicate of the same memfd and the peer maps and unmaps it with the same checks.
final class CrossProcessBufferShare: BenchmarkPath {
    let name = "buffer export + import + release (cross-process)"
    let unit = "buffer"
    let operations: Int
    private let connection: Connection
    private let buffer: Buffer
    /// The floor's memfd: the same memory, held outside Magma.
    private let floorDescriptor: OwnedFileDescriptor
    private let peer: PeerProcess
    private let channel: MessageSocket
    private let directory: String

    init(operations: Int, peerExecutable: URL) throws {
        self.operations = operations
        connection = try Device.open(.embedded).createConnection()
        buffer = try connection.createBuffer(size: 64 * 1024)
        floorDescriptor = try buffer.export()
        directory = FileManager.default.temporaryDirectory.appending(path: "magma-peer-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = "\(directory)/peer"
        let listener = try MessageSocket.listen(path: path, permissions: 0o600)
        peer = try PeerProcess(executable: peerExecutable.path, arguments: [BufferPeer.argument, path])
        channel = try listener.accept()
    }

    private func share(_ mode: UInt8, _ descriptor: OwnedFileDescriptor) throws {
        try withExtendedLifetime(descriptor) { try channel.send([mode], descriptors: [descriptor.fileDescriptor]) }
        _ = try channel.receive(capacity: 16)
    }

    func runMagma() throws {
        for _ in 0..<operations { try share(UInt8(ascii: "m"), try buffer.export()) }
    }

    func runFloor() throws {
        let fd = floorDescriptor.rawValue
        for _ in 0..<operations {
            let copy = dup(fd)
            try channel.send([UInt8(ascii: "f")], descriptors: [FileDescriptor(rawValue: copy)])
            Glibc.close(copy)
            _ = try channel.receive(capacity: 16)
        }
    }

    func close() {
        channel.shutdown()
        peer.wait()
        connection.release()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
