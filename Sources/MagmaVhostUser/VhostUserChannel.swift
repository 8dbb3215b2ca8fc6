import Glibc
import MagmaPlatform

/// One end of a vhost-user connection: a Unix stream socket over which messages (header,
/// payload, SCM_RIGHTS descriptors) are read and written whole. Used for the front-end's
/// socket and for the GPU's display socket.
public final class VhostUserChannel: Sendable {
    /// The socket (any Unix socket: `MessageSocket`'s sendmsg/recvmsg work on streams too).
    public let socket: MessageSocket
    /// How long the rest of a message may take once its first byte has come.
    let messageTimeoutNanoseconds: UInt64

    /// Wraps a connected stream socket.
    public init(socket: MessageSocket, messageTimeoutNanoseconds: UInt64 = 10_000_000_000) {
        self.socket = socket
        self.messageTimeoutNanoseconds = messageTimeoutNanoseconds
    }

    /// Two connected stream sockets, for tests and in-process front-ends.
    public static func pair() throws(PlatformError) -> (VhostUserChannel, VhostUserChannel) {
        var fds: [Int32] = [-1, -1]
        try SystemCall.once("socketpair") { socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
        return (VhostUserChannel(socket: MessageSocket(adopting: OwnedFileDescriptor(taking: fds[0]))),
                VhostUserChannel(socket: MessageSocket(adopting: OwnedFileDescriptor(taking: fds[1]))))
    }

    /// Reads one message; nil at a clean end of stream (between messages). Waits as long as it
    /// takes for a message to start, then at most `messageTimeoutNanoseconds` for its rest.
    /// A stream that ends or stalls inside a message, or a header `decodeHeader` refuses, throws.
    /// `requireVersion` false accepts any flags (the GPU display protocol's replies carry no
    /// version bits), the payload size still bounded.
    public func receive(requireVersion: Bool = true) throws(VhostUserError) -> VhostUserMessage? {
        var descriptors: [OwnedFileDescriptor] = []
        guard let header = try read(VhostUserMessage.headerSize, descriptors: &descriptors, firstDeadline: Deadline(after: Poller.forever)) else {
            return nil
        }
        let (request, flags, size) = try VhostUserMessage.decodeHeader(header, requireVersion: requireVersion)
        var payload: [UInt8] = []
        if size > 0 {
            guard let bytes = try read(size, descriptors: &descriptors, firstDeadline: Deadline(after: messageTimeoutNanoseconds), started: true) else {
                throw .truncated(needed: VhostUserMessage.headerSize + size, received: VhostUserMessage.headerSize)
            }
            payload = bytes
        }
        return VhostUserMessage(request: request, flags: flags, payload: payload, descriptors: descriptors)
    }

    /// Sends one message whole.
    public func send(_ message: VhostUserMessage) throws(VhostUserError) {
        do { try socket.send(message.encoded, descriptors: message.descriptors.map(\.fileDescriptor)) } catch { throw .platform(error) }
    }

    /// Reads exactly `count` bytes, keeping the descriptors that come with them. Nil if the
    /// stream ends before the first byte of a message (`started` false).
    private func read(_ count: Int, descriptors: inout [OwnedFileDescriptor], firstDeadline: Deadline,
                      started: Bool = false) throws(VhostUserError) -> [UInt8]? {
        var bytes: [UInt8] = []
        var deadline = firstDeadline
        while bytes.count < count {
            guard socket.waitReadable(until: deadline) else { throw .truncated(needed: count, received: bytes.count) }
            let datagram: Datagram?
            do { datagram = try socket.receive(capacity: count - bytes.count, wait: false) } catch { throw .platform(error) }
            switch datagram {
            case .none: continue
            case .endOfStream:
                if bytes.isEmpty && !started { return nil }
                throw .truncated(needed: count, received: bytes.count)
            case .message(let chunk, let fds, _):
                descriptors += fds
                guard descriptors.count <= VhostUserCommand.maxRegions else {
                    throw .descriptorCount(request: 0, count: descriptors.count, expected: VhostUserCommand.maxRegions)
                }
                bytes += chunk
                if !chunk.isEmpty { deadline = Deadline(after: messageTimeoutNanoseconds) }
            }
        }
        return bytes
    }
}
