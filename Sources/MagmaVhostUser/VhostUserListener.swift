import CMagmaLinux
import Glibc
import MagmaPlatform

/// A Unix stream socket a front-end connects to (QEMU's `-chardev socket,path=...`).
public final class VhostUserListener: Sendable {
    /// The listening socket.
    public let socket: MessageSocket
    /// Where it listens (unlinked by `close`).
    public let path: String

    /// Listens at `path` (which must not exist), readable and writable by its owner only.
    public init(path: String) throws(PlatformError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { throw PlatformError(call: "socket path too long", errno: .fileNameTooLong) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let fd = try SystemCall.once("socket") { Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        let descriptor = OwnedFileDescriptor(taking: fd)
        try SystemCall.once("bind(\(path))") {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
        do throws(PlatformError) {
            try SystemCall.retrying("chmod(\(path))") { chmod(path, 0o600) }
            try SystemCall.once("listen(\(path))") { Glibc.listen(fd, 1) }
        } catch {
            unlink(path)
            throw error
        }
        socket = MessageSocket(adopting: descriptor)
        self.path = path
    }

    /// Waits for a front-end and returns its connection. Fails once `close` has run.
    public func accept() throws(PlatformError) -> VhostUserChannel {
        VhostUserChannel(socket: try socket.accept())
    }

    /// Stops listening (a blocked `accept` fails) and removes the socket file.
    public func close() {
        socket.shutdown()
        unlink(path)
    }
}
