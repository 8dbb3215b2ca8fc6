import CMagmaLinux
import Glibc
import MagmaPlatform

/// The floor's side of a socket: a SOCK_SEQPACKET pair used with plain sendmsg/recvmsg into a
/// reused buffer, no codec and no allocation per message.
final class RawChannel: @unchecked Sendable {
    let near: Int32
    let far: Int32

    init() throws {
        var fds: [Int32] = [-1, -1]
        try SystemCall.once("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
        near = fds[0]
        far = fds[1]
    }

    deinit {
        Glibc.close(near)
        Glibc.close(far)
    }

    /// Sends `bytes` on `fd`.
    static func send(_ fd: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { cmagma_send_message(fd, $0.baseAddress, $0.count, nil, 0, 0) }
    }

    /// Receives one record on `fd` into `buffer`; returns its size (0 at the end).
    static func receive(_ fd: Int32, into buffer: inout [UInt8]) -> Int {
        var count = 0
        var truncated: Int32 = 0
        return buffer.withUnsafeMutableBytes { Int(cmagma_receive_message(fd, $0.baseAddress, $0.count, nil, 0, &count, &truncated, 0)) }
    }
}

/// Runs `body` on a new thread and lets the caller wait for it to finish.
final class Worker: @unchecked Sendable {
    private let done: EventSemaphore

    init(name: String, _ body: @escaping @Sendable () -> Void) throws {
        done = try EventSemaphore()
        let done = self.done
        try HostThread.spawn(name: name) {
            body()
            done.signal()
        }
    }

    func join() { _ = done.wait(timeoutNanoseconds: Poller.forever) }
}
