import MagmaPlatform

/// One front-end's connection: reads its requests in order on a thread of its own and answers
/// them, until the front-end closes its socket or breaks the protocol; then the back-end closes
/// (its queue thread ends, the device releases everything the guest held).
///
/// A request that is well framed but refused (a bad field, an address outside the memory
/// table) changes nothing: with REPLY_ACK it is acknowledged with a failure and the session
/// goes on. A broken stream (a bad header, a truncated message) or a refused request the
/// front-end waits a reply for ends the session, so the front-end sees the end of its socket
/// instead of waiting forever.
public final class VhostUserSession: Sendable {
    /// The back-end it feeds.
    public let backend: VhostUserBackend
    private let channel: VhostUserChannel
    private let record = Locked(Record())
    private let trace: (@Sendable (String) -> Void)?
    /// Signaled once the session has ended and the back-end has closed.
    public let ended: EventSemaphore

    private struct Record {
        var refused: [VhostUserError] = []
        var endReason: VhostUserError?
    }

    /// Starts serving `channel`'s front-end with `backend`, on a thread of its own. `trace`, if
    /// given, gets one line per request (its name and whether it was refused).
    public init(channel: VhostUserChannel, backend: VhostUserBackend, trace: (@Sendable (String) -> Void)? = nil) throws(PlatformError) {
        self.channel = channel
        self.backend = backend
        self.trace = trace
        ended = try EventSemaphore()
        try HostThread.spawn(name: "vhost-session") { [self] in run() }
    }

    /// Requests refused so far (the session went on after each).
    public var refused: [VhostUserError] { record.withLock { $0.refused } }

    /// Why the session ended, if by a protocol error (nil: the front-end closed, or still running).
    public var endReason: VhostUserError? { record.withLock { $0.endReason } }

    /// Ends the session now (shutting its socket down) and waits until it has ended.
    public func stop() {
        channel.socket.shutdown()
        _ = ended.wait(timeoutNanoseconds: Poller.forever)
    }

    private func run() {
        defer {
            channel.socket.shutdown()
            backend.close()
            ended.signal()
        }
        while true {
            do throws(VhostUserError) {
                guard let message = try channel.receive() else { return }
                try serve(message)
            } catch {
                record.withLock { $0.endReason = error }
                return
            }
        }
    }

    private func serve(_ message: VhostUserMessage) throws(VhostUserError) {
        let known = VhostUserRequest(rawValue: message.request)
        let wantsReply = known?.hasReply ?? false
        let reply: [UInt8]?
        do throws(VhostUserError) {
            reply = try backend.handle(try VhostUserCommand.decode(message))
            trace?("\(known.map { "\($0)" } ?? "request \(message.request)")")
        } catch {
            trace?("\(known.map { "\($0)" } ?? "request \(message.request)") refused: \(error)")
            guard !wantsReply else { throw error }
            record.withLock { $0.refused.append(error) }
            if message.needsReply && backend.acknowledgesReplies { try acknowledge(message, status: 1) }
            return
        }
        if let reply {
            try channel.send(.reply(to: message.request, payload: reply))
        } else if message.needsReply && backend.acknowledgesReplies {
            try acknowledge(message, status: 0)
        }
    }

    private func acknowledge(_ message: VhostUserMessage, status: UInt64) throws(VhostUserError) {
        var out = LittleEndianWriter()
        out.u64(status)
        try channel.send(.reply(to: message.request, payload: out.bytes))
    }
}
