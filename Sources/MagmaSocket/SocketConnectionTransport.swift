import Magma
import MagmaPlatform
import MagmaPrimary
import MagmaProtocol
import MagmaWire

/// One connection to a magmad device: requests are encoded with the generated codecs and sent
/// on the primary channel; replies, flow-control events and the epitaph come back on it;
/// notifications arrive on the notification channel.
final class SocketConnectionTransport: PrimaryTransport, PrimaryRequestSender {
    typealias Handle = PrimaryHandle

    private struct State {
        var error: MagmaError?
        var closed = false
        var budget: FlowControlBudget?
        var nextTransaction: UInt32 = 1
        var replies: [UInt32: PrimaryProtocol.ServerMessage] = [:]
        /// Calls that timed out: their replies, if they come, are dropped.
        var abandoned: Set<UInt32> = []
    }

    private let primary: MessageSocket
    private let notification: MessageSocket
    private let state = Locked(State())
    private let callTimeoutNanoseconds: UInt64

    /// Starts a connection on channels the server has been handed. With nonzero `limits`,
    /// flow control is enabled. Synchronous calls (flush, the access check) wait at most
    /// `callTimeoutNanoseconds` for their reply, then throw TIMED_OUT.
    init(primary: MessageSocket, notification: MessageSocket, limits: FlowControlLimits?, callTimeoutNanoseconds: UInt64) {
        self.primary = primary
        self.notification = notification
        self.callTimeoutNanoseconds = callTimeoutNanoseconds
        if let limits, limits.maxInflightMessages > 0, limits.maxInflightMegabytes > 0 {
            state.withLock { state in
                sendUncounted(.enableFlowControl(.init()), &state)
                state.budget = FlowControlBudget(maxMessages: UInt64(limits.maxInflightMessages),
                                                 maxBytes: UInt64(limits.maxInflightMegabytes) << 20)
            }
        }
    }

    deinit { close() }

    // MARK: Requests

    /// Sends a request the generated `PrimaryRequestSender` encoded, counting the memory a
    /// buffer import carries against flow control. A handle that cannot leave the process
    /// fails the connection.
    func send(_ message: PrimaryProtocol.ClientMessage, handles: [PrimaryHandle]) {
        var bytes: UInt64 = 0
        for handle in handles {
            switch handle {
            case .buffer(let memory): bytes += UInt64(memory.size)
            case .semaphore, .descriptor: break
            case .local: return fail(.internalError("\(type(of: message.message).name) carries an in-process object"))
            }
        }
        withExtendedLifetime(handles) { send(message, importing: bytes) }
    }

    func makePerformanceCounterChannel() throws(MagmaError) -> (handle: PrimaryHandle, events: any PerformanceCounterEventSource) {
        let channel: (MessageSocket, MessageSocket)
        do { channel = try MessageSocket.pair() } catch { throw .memoryError("cannot create a channel: \(error)") }
        return (.descriptor(channel.1.descriptor), SocketCompletionSource(socket: channel.0))
    }

    // MARK: Calls

    func flush() -> MagmaError? {
        state.withLock { state in
            if case .failure(let error) = call(.flush(.init()), &state) { return error }
            return state.error
        }
    }

    func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool {
        let reply = state.withLock { state in call(.isPerformanceCounterAccessAllowed(.init()), &state) }
        guard case .isPerformanceCounterAccessAllowedReply(let answer) = try reply.get() else {
            throw .internalError("the server answered with another message")
        }
        return answer.enabled
    }

    var error: MagmaError? {
        state.withLock { state in
            while state.error == nil, receiveFromServer(&state, wait: false) {}
            return state.error
        }
    }

    /// The primary channel: readable when a message or the epitaph arrives, and from then on
    /// once the connection has ended (the server closed it, or the client shut it down when it
    /// recorded the connection's error).
    var failureDescriptor: Int32 { primary.descriptor.rawValue }

    // MARK: Notifications

    var notificationDescriptor: Int32 { notification.descriptor.rawValue }

    /// The server sends the epitaph before it closes the notification channel, so once the
    /// channel has hung up, the primary channel holds the epitaph if there is one; without it
    /// (magmad was killed), the connection is lost.
    var notificationChannelError: MagmaError? {
        state.withLock { state in
            guard state.error == nil, !state.closed else { return state.error }
            let hungUp = Poller.isHungUp(notification.descriptor.rawValue)
            while state.error == nil, receiveFromServer(&state, wait: false) {}
            if hungUp { record(MagmaError(.connectionLost, "the server closed the notification channel"), &state) }
            return state.error
        }
    }

    /// Once the connection has failed, the server closes the notification channel right after
    /// its last notification, so the read waits for that (at most the call timeout) instead of
    /// reporting "none pending".
    func readNotification() throws(MagmaError) -> [UInt8]? {
        var record = try receiveRecord(notification, wait: false, channel: "notification channel")
        if record == nil, error != nil {
            guard notification.waitReadable(until: Deadline(after: callTimeoutNanoseconds)) else {
                throw MagmaError(.connectionLost, "the server did not close the notification channel of the failed connection")
            }
            record = try receiveRecord(notification, wait: false, channel: "notification channel")
        }
        guard let bytes = record else { return nil }
        let message: NotificationProtocol.ServerMessage
        do { message = try NotificationProtocol.ServerMessage.decode(bytes: bytes).message } catch {
            throw .internalError("malformed notification: \(error)")
        }
        switch message {
        case .notification(let notification): return notification.data
        }
    }

    func close() {
        state.withLock { state in
            guard !state.closed else { return }
            state.closed = true
            primary.shutdown()
            notification.shutdown()
        }
    }

    // MARK: Sending and receiving

    /// Sends a feed-forward request, waiting first while flow control says so.
    private func send(_ message: PrimaryProtocol.ClientMessage, importing bytes: UInt64 = 0) {
        state.withLock { state in
            guard state.error == nil, !state.closed else { return }
            while state.error == nil, state.budget?.mustWait(forBytes: bytes) == true {
                _ = receiveFromServer(&state, wait: true)
            }
            if sendUncounted(message, &state) { state.budget?.sent(importing: bytes) }
        }
    }

    /// Encodes and sends; a message that cannot be encoded fails the connection, as the server
    /// would. Returns whether it was sent.
    @discardableResult
    private func sendUncounted(_ message: PrimaryProtocol.ClientMessage, transactionId: UInt32 = 0, _ state: inout State) -> Bool {
        guard state.error == nil, !state.closed else { return false }
        let encoded: EncodedMessage
        do { encoded = try message.encoded(transactionId: transactionId) } catch {
            record(.invalidArgs("\(type(of: message.message).name) cannot be sent: \(error)"), &state)
            return false
        }
        do {
            try primary.send(encoded.bytes, descriptors: encoded.handles.map(\.descriptor))
            return true
        } catch {
            // The server closed the connection; its epitaph may be waiting.
            while receiveFromServer(&state, wait: false) {}
            record(MagmaError(.connectionLost, "the server is gone: \(error)"), &state)
            return false
        }
    }

    /// Sends a synchronous call and waits for its reply (or the connection's end). TIMED_OUT
    /// when no reply came within the call timeout; the connection stays as it is.
    private func call(_ message: PrimaryProtocol.ClientMessage, _ state: inout State) -> Result<PrimaryProtocol.ServerMessage, MagmaError> {
        if let error = state.error { return .failure(error) }
        guard !state.closed else { return .failure(.badState("connection was released")) }
        let deadline = Deadline(after: callTimeoutNanoseconds)
        let transaction = state.nextTransaction
        state.nextTransaction = transaction == .max ? 1 : transaction + 1
        guard sendUncounted(message, transactionId: transaction, &state) else {
            return .failure(state.error ?? MagmaError(.connectionLost, "not sent"))
        }
        while true {
            if let reply = state.replies.removeValue(forKey: transaction) { return .success(reply) }
            if let error = state.error { return .failure(error) }
            guard primary.waitReadable(until: deadline) else {
                state.abandoned.insert(transaction)
                return .failure(DeviceCallTimeout.error(type(of: message.message).name, callTimeoutNanoseconds))
            }
            _ = receiveFromServer(&state, wait: false)
        }
    }

    /// Reads and records one message from the server. Returns whether one was read.
    private func receiveFromServer(_ state: inout State, wait: Bool) -> Bool {
        let datagram: Datagram?
        do { datagram = try primary.receive(capacity: ProtocolLimits.maxMessageBytes, wait: wait) } catch {
            record(MagmaError(.connectionLost, "primary channel: \(error)"), &state)
            return false
        }
        guard case .message(let bytes, let descriptors, _)? = datagram else {
            if datagram != nil { record(MagmaError(.connectionLost, "the server closed the connection"), &state) }
            return false
        }
        do {
            let received = try PrimaryProtocol.ServerMessage.decode(bytes: bytes, handles: descriptors.map { WireHandle($0.rawValue) })
            switch received.message {
            case .onNotifyMessagesConsumed(let event): state.budget?.messagesConsumed(event.count)
            case .onNotifyMemoryImported(let event): state.budget?.memoryImported(event.bytes)
            case .epitaph(let epitaph):
                let status = epitaph.status == .ok ? MagmaStatus.internalError : epitaph.status
                record(MagmaError(status, epitaph.reason.isEmpty ? "closed by the server" : epitaph.reason), fromServer: true, &state)
            case .flushReply, .isPerformanceCounterAccessAllowedReply:
                let transaction = received.header.transactionId
                if state.abandoned.remove(transaction) == nil { state.replies[transaction] = received.message }
            }
        } catch {
            record(MagmaError(.internalError, "malformed message from the server: \(error)"), &state)
        }
        return true
    }

    private func fail(_ error: MagmaError) {
        state.withLock { state in record(error, &state) }
    }

    /// Makes `error` the connection's error unless it already has one, and shuts the primary
    /// channel down, so that `failureDescriptor` polls readable from now on.
    ///
    /// After an epitaph (`fromServer`) only the reading side is shut: the server is still
    /// delivering the connection's last notification (the fault report follows the epitaph),
    /// and a full shutdown would end its serve loop, and the notification channel, before that
    /// notification went out. An error the server does not know of shuts both sides, so the
    /// server releases the connection at once.
    private func record(_ error: MagmaError, fromServer: Bool = false, _ state: inout State) {
        guard state.error == nil else { return }
        state.error = error
        if fromServer { primary.shutdownReading() } else { primary.shutdown() }
    }

    /// How many messages and bytes are in flight, for tests of flow control.
    var inflight: (messages: UInt64, bytes: UInt64)? {
        state.withLock { state in state.budget.map { ($0.inflightMessages, $0.inflightBytes) } }
    }
}

/// A pool's completions from magmad: performance_counter_events messages on the pool's channel.
final class SocketCompletionSource: PerformanceCounterEventSource {
    private let socket: MessageSocket

    init(socket: MessageSocket) { self.socket = socket }

    deinit { socket.shutdown() }

    var descriptor: Int32 { socket.descriptor.rawValue }

    func next() throws(MagmaError) -> PerformanceCounterCompletion? {
        guard let bytes = try receiveRecord(socket, wait: false, channel: "performance-counter channel") else { return nil }
        let message: PerformanceCounterEventsProtocol.ServerMessage
        do { message = try PerformanceCounterEventsProtocol.ServerMessage.decode(bytes: bytes).message } catch {
            throw .internalError("malformed performance-counter event: \(error)")
        }
        switch message {
        case .onPerformanceCounterReadCompleted(let event):
            return PerformanceCounterCompletion(triggerId: event.triggerId, bufferId: event.bufferId, bufferOffset: event.bufferOffset,
                                                timestamp: event.timestamp, flags: event.flags)
        }
    }
}

/// One record from a server-to-client channel: nil when `wait` is false and nothing is pending;
/// CONNECTION_LOST once the channel has ended or failed.
private func receiveRecord(_ socket: MessageSocket, wait: Bool, channel: String) throws(MagmaError) -> [UInt8]? {
    let datagram: Datagram?
    do { datagram = try socket.receive(capacity: ProtocolLimits.maxMessageBytes, wait: wait) } catch {
        throw MagmaError(.connectionLost, "\(channel): \(error)")
    }
    switch datagram {
    case nil: return nil
    case .endOfStream?: throw MagmaError(.connectionLost, "\(channel) closed")
    case .message(let bytes, _, _)?: return bytes
    }
}

extension PrimaryHandle: WireHandleConvertible {
    /// The descriptor that travels beside the message (none for an in-process object, which
    /// `SocketConnectionTransport.send` refuses).
    public var wireHandle: WireHandle {
        switch self {
        case .buffer(let memory): WireHandle(memory.descriptor.rawValue)
        case .semaphore(let event): WireHandle(event.descriptor.rawValue)
        case .descriptor(let descriptor): WireHandle(descriptor.rawValue)
        case .local: WireHandle(-1)
        }
    }
}
