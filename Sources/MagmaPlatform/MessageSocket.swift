import CMagmaLinux
import Glibc
import SystemPackage

/// What one receive on a `MessageSocket` produced.
public enum Datagram: Sendable {
    /// One record with the descriptors that came with it. `truncated` means the record or its
    /// descriptors did not fit the receive (descriptors that did not fit were closed).
    case message(bytes: [UInt8], descriptors: [OwnedFileDescriptor], truncated: Bool)
    /// The peer closed its end, or the socket was shut down.
    case endOfStream
}

/// Who is on the other end of a Unix socket (SO_PEERCRED).
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var processId: Int32
    public var userId: UInt32
    public var groupId: UInt32
    public var description: String { "pid \(processId) uid \(userId) gid \(groupId)" }
}

/// A Unix SOCK_SEQPACKET socket: each send is one record, and descriptors travel beside the bytes
/// (SCM_RIGHTS). Sends and receives may run on different threads at once.
public final class MessageSocket: Sendable {
    /// The socket descriptor.
    public let descriptor: OwnedFileDescriptor

    /// Wraps a connected or listening socket.
    public init(adopting descriptor: OwnedFileDescriptor) { self.descriptor = descriptor }

    /// Two connected sockets.
    public static func pair() throws(PlatformError) -> (MessageSocket, MessageSocket) {
        var fds: [Int32] = [-1, -1]
        try SystemCall.once("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
        return (MessageSocket(adopting: OwnedFileDescriptor(taking: fds[0])), MessageSocket(adopting: OwnedFileDescriptor(taking: fds[1])))
    }

    /// Binds at `path` with its permission bits set, and listens: the socket file appears only
    /// once it accepts connections.
    public static func listen(path: String, permissions: mode_t, backlog: Int32 = 128) throws(PlatformError) -> MessageSocket {
        // Bound, given its mode and listening under a temporary name first, the socket appears
        // at `path` (by an atomic link) only once it accepts: a client never finds a socket
        // file there that refuses it. Where the temporary name would be too long for a socket
        // address, the socket is bound at `path` directly.
        let staging = Self.stagingPath(for: path)
        let bindPath = (try? socketAddress(staging)) == nil ? path : staging
        let socket = try unbound()
        var address = try socketAddress(bindPath)
        unlink(staging)
        try SystemCall.once("bind(\(path))") {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket.descriptor.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
        do throws(PlatformError) {
            try SystemCall.retrying("chmod(\(path))") { chmod(bindPath, permissions) }
            try SystemCall.once("listen") { Glibc.listen(socket.descriptor.rawValue, backlog) }
            if bindPath != path {
                // A hard link, not a rename: like bind, it never replaces what is at `path`.
                do throws(PlatformError) {
                    try SystemCall.retrying("bind(\(path))") { link(bindPath, path) }
                } catch where error.errno == .fileExists {
                    throw PlatformError(call: error.call, errno: .addressInUse)
                }
            }
        } catch {
            if bindPath != path { unlink(bindPath) }
            throw error
        }
        if bindPath != path { unlink(bindPath) }
        return socket
    }

    /// Where `listen` binds before the socket takes its name: a hidden name beside it, unique to
    /// this process.
    private static func stagingPath(for path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return "\(directory).\(name).\(getpid())"
    }

    /// Connects to a listening socket at `path`. With `sendTimeoutNanoseconds`, the connect
    /// (which waits while the listener's backlog is full) and every later blocking send fail
    /// with EAGAIN once that time has passed (SO_SNDTIMEO).
    public static func connect(path: String, sendTimeoutNanoseconds: UInt64? = nil) throws(PlatformError) -> MessageSocket {
        let socket = try unbound()
        if let sendTimeoutNanoseconds { try socket.setSendTimeout(nanoseconds: sendTimeoutNanoseconds) }
        var address = try socketAddress(path)
        try SystemCall.retrying("connect(\(path))") {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket.descriptor.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
        return socket
    }

    /// Waits for and accepts one connection. Fails once the listener is shut down.
    public func accept() throws(PlatformError) -> MessageSocket {
        while true {
            do throws(PlatformError) {
                let fd = try SystemCall.retrying("accept") { cmagma_accept(descriptor.rawValue) }
                return MessageSocket(adopting: OwnedFileDescriptor(taking: fd))
            } catch where error.errno == .connectionAbort {
                continue  // the peer gave up before it was accepted: wait for the next one
            }
        }
    }

    /// Accepts one connection if one is waiting; nil if none is (the socket must be
    /// non-blocking: `setNonBlocking()`). Fails once the listener is shut down.
    public func acceptIfPending() throws(PlatformError) -> MessageSocket? {
        do { return try accept() } catch where error.errno == .wouldBlock { return nil }
    }

    /// Makes calls that would wait fail with EAGAIN instead: for a socket this process alone
    /// holds (a listener). A socket shared with a client keeps its flags, which the client
    /// controls; sends and receives with `wait` false never wait whatever they are.
    public func setNonBlocking() throws(PlatformError) {
        let flags = try SystemCall.once("fcntl(F_GETFL)") { fcntl(descriptor.rawValue, F_GETFL) }
        try SystemCall.once("fcntl(O_NONBLOCK)") { fcntl(descriptor.rawValue, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Sends one record with `descriptors` beside it. The descriptors are borrowed: the peer
    /// gets its own copies, the caller keeps and closes these. With `wait` false, a full socket
    /// is EAGAIN instead of blocking. A closed peer is EPIPE.
    public func send(_ bytes: [UInt8], descriptors: [FileDescriptor] = [], wait: Bool = true) throws(PlatformError) {
        let numbers = descriptors.map(\.rawValue)
        let sent = try SystemCall.retrying("sendmsg") {
            bytes.withUnsafeBytes { raw in
                numbers.withUnsafeBufferPointer { fds in
                    cmagma_send_message(descriptor.rawValue, raw.baseAddress, raw.count, fds.baseAddress, fds.count, wait ? 0 : 1)
                }
            }
        }
        guard sent == bytes.count else { throw PlatformError(call: "sendmsg (short)", errno: .messageTooLong) }
    }

    /// Receives one record of at most `capacity` bytes. With `wait` false, returns nil when
    /// nothing is pending.
    ///
    /// A peer that closed while records it had not read were queued makes the next receive
    /// fail with ECONNRESET, even though records it sent before closing (an epitaph) are still
    /// queued here; the error is reported once, so the receive is made again to read them.
    public func receive(capacity: Int, wait: Bool = true) throws(PlatformError) -> Datagram? {
        do {
            return try receiveOnce(capacity: capacity, wait: wait)
        } catch where error.errno == .connectionReset {
            do {
                return try receiveOnce(capacity: capacity, wait: wait)
            } catch where error.errno == .connectionReset {
                return .endOfStream
            }
        }
    }

    private func receiveOnce(capacity: Int, wait: Bool) throws(PlatformError) -> Datagram? {
        let capacity = max(capacity, 1)
        var truncated: Int32 = 0
        var owned: [OwnedFileDescriptor] = []
        let received: Result<[UInt8], PlatformError> = ReceiveScratch.withBuffer(capacity: capacity) { scratch in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: Int(CMAGMA_MAX_MESSAGE_FDS)) { fds in
                var fdCount = 0
                let count: Int
                do throws(PlatformError) {
                    count = try SystemCall.retrying("recvmsg") {
                        cmagma_receive_message(descriptor.rawValue, scratch.baseAddress, capacity, fds.baseAddress,
                                               fds.count, &fdCount, &truncated, wait ? 0 : 1)
                    }
                } catch {
                    return .failure(error)
                }
                owned = fds.prefix(fdCount).map { OwnedFileDescriptor(taking: $0) }
                return .success([UInt8](UnsafeRawBufferPointer(rebasing: scratch[..<count])))
            }
        }
        let bytes: [UInt8]
        switch received {
        case .success(let received): bytes = received
        case .failure(let error) where !wait && error.errno == .wouldBlock: return nil
        case .failure(let error): throw error
        }
        if bytes.isEmpty, owned.isEmpty { return .endOfStream }
        return .message(bytes: bytes, descriptors: owned, truncated: truncated != 0)
    }

    /// Makes blocking sends fail with EAGAIN after `nanoseconds` (SO_SNDTIMEO); `Poller.forever`
    /// removes the bound.
    public func setSendTimeout(nanoseconds: UInt64) throws(PlatformError) {
        try setTimeout(SO_SNDTIMEO, "setsockopt(SO_SNDTIMEO)", nanoseconds: nanoseconds)
    }

    /// Makes blocking receives fail with EAGAIN after `nanoseconds` with nothing received
    /// (SO_RCVTIMEO), so a call's wait for its reply is one receive, not a poll and a receive;
    /// `Poller.forever` removes the bound.
    public func setReceiveTimeout(nanoseconds: UInt64) throws(PlatformError) {
        try setTimeout(SO_RCVTIMEO, "setsockopt(SO_RCVTIMEO)", nanoseconds: nanoseconds)
    }

    private func setTimeout(_ option: Int32, _ name: StaticString, nanoseconds: UInt64) throws(PlatformError) {
        var bound = timeval()
        if nanoseconds != Poller.forever {
            let microseconds = max(nanoseconds / 1000, 1)
            bound = timeval(tv_sec: Int(clamping: microseconds / 1_000_000), tv_usec: Int(microseconds % 1_000_000))
        }
        try SystemCall.once("\(name)") {
            setsockopt(descriptor.rawValue, SOL_SOCKET, option, &bound, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    /// Waits until a record (or the end of the stream) can be received, or the deadline passes.
    /// Returns whether one can.
    public func waitReadable(until deadline: Deadline) -> Bool {
        (try? Poller.poll([PollRequest(descriptor: descriptor.fileDescriptor)], timeoutNanoseconds: deadline.remainingNanoseconds).first) ?? true
    }

    /// Waits until a send has room (or the socket has hung up or failed), or the deadline
    /// passes. Returns whether it has.
    public func waitWritable(until deadline: Deadline) -> Bool {
        (try? Poller.poll([PollRequest(descriptor: descriptor.fileDescriptor, events: Int16(POLLOUT))],
                          timeoutNanoseconds: deadline.remainingNanoseconds).first) ?? true
    }

    /// Whether a receive would find a record (or the end of the stream) now: one zero-timeout
    /// poll, nothing received.
    public var isReadableNow: Bool {
        var fd = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&fd, 1, 0) == 1 && fd.revents != 0
    }

    /// Ends both directions: blocked and later receives see end of stream, sends fail.
    public func shutdown() { _ = Glibc.shutdown(descriptor.rawValue, Int32(SHUT_RDWR)) }

    /// Shuts down receiving only: the socket polls readable (end of stream) from now on, while
    /// the peer sees no end of stream and may still read what this side sends.
    public func shutdownReading() { _ = Glibc.shutdown(descriptor.rawValue, Int32(SHUT_RD)) }

    /// Whether the descriptor is a connected SOCK_SEQPACKET socket.
    public var isConnectedSequencedPacket: Bool {
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor.rawValue, SOL_SOCKET, SO_TYPE, &type, &length) == 0, type == Int32(SOCK_SEQPACKET.rawValue) else {
            return false
        }
        var address = sockaddr_storage()
        var addressLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor.rawValue, $0, &addressLength) == 0 }
        }
    }

    /// The peer's process, user and group, if the kernel knows them.
    public var peerCredentials: PeerCredentials? {
        var credentials = PeerCredentials(processId: 0, userId: 0, groupId: 0)
        guard cmagma_peer_credentials(descriptor.rawValue, &credentials.processId, &credentials.userId, &credentials.groupId) == 0 else {
            return nil
        }
        return credentials
    }

    private static func unbound() throws(PlatformError) -> MessageSocket {
        let fd = try SystemCall.once("socket") { socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        return MessageSocket(adopting: OwnedFileDescriptor(taking: fd))
    }

    private static func socketAddress(_ path: String) throws(PlatformError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { throw PlatformError(call: "socket path '\(path)'", errno: .fileNameTooLong) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }
}
