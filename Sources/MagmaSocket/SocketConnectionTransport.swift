import Glibc
import Magma
import MagmaPlatform
import MagmaPrimary
import MagmaProtocol
import MagmaWire
import Synchronization
import SystemPackage

/// One connection to a magmad device: requests are encoded with the generated codecs and sent
/// on the primary channel; replies, flow-control events and the epitaph come back on it;
/// notifications arrive on the notification channel.
///
/// No lock is held across a call that can block. Sends never wait inside the kernel: a full
/// channel is waited for with no lock held, then the send is tried again. A thread that waits
/// for a reply or for flow control either becomes the connection's one reader (it polls the
/// primary channel with no lock held, then reads what arrived without waiting) or sleeps on a
/// condition until the reader has read. `error` reads nothing unless the primary channel is
/// readable: the process's client loop (`ServerMessageWatch`) raises a flag when it is, so the
/// epitaph is read once it arrives (by readiness), and a healthy connection's check makes no
/// syscall.
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
        /// A thread is waiting for the primary channel outside the lock and will read what
        /// arrives; no other thread reads it meanwhile (a read would take what it waits for).
        var reading = false
    }

    /// What one attempt to send found.
    private enum SendAttempt {
        case sent
        /// The channel is full: wait for room, then try again.
        case full
        /// Flow control says wait for the server's consumed events, then try again.
        case overBudget
        /// Not sent, for good (the connection has failed or closed).
        case failed
    }

    private let primary: MessageSocket
    private let notification: MessageSocket
    private let state = LockedCondition(State())
    private let callTimeoutNanoseconds: UInt64
    private let serverMessages: ServerMessageWatch

    /// Starts a connection on channels the server has been handed. With nonzero `limits`,
    /// flow control is enabled. Synchronous calls (flush, the access check) wait at most
    /// `callTimeoutNanoseconds` for their reply, then throw TIMED_OUT.
    init(primary: MessageSocket, notification: MessageSocket, limits: FlowControlLimits?, callTimeoutNanoseconds: UInt64) {
        self.primary = primary
        self.notification = notification
        self.callTimeoutNanoseconds = callTimeoutNanoseconds
        serverMessages = ServerMessageWatch(descriptor: primary.descriptor.fileDescriptor)
        if let limits, limits.maxInflightMessages > 0, limits.maxInflightMegabytes > 0 {
            if let encoded = encode(.enableFlowControl(.init())) { _ = sendWaiting(encoded, counted: nil, deadline: Deadline(after: Poller.forever)) }
            state.withLock { state in
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
            case .buffer(let memory) where memory.descriptor == nil:
                return fail(.invalidArgs("\(type(of: message.message).name) carries memory of this process only (\(memory.kind)), which cannot be sent"))
            case .buffer(let memory): bytes += UInt64(memory.size)
            case .semaphore, .timeline, .descriptor: break
            case .local: return fail(.internalError("\(type(of: message.message).name) carries an in-process object"))
            }
        }
        withExtendedLifetime(handles) {
            guard let encoded = encode(message) else { return }
            _ = sendWaiting(encoded, counted: bytes, deadline: Deadline(after: Poller.forever))
        }
    }

    func makePerformanceCounterChannel() throws(MagmaError) -> (handle: PrimaryHandle, events: any PerformanceCounterEventSource) {
        let channel: (MessageSocket, MessageSocket)
        do { channel = try MessageSocket.pair() } catch { throw .memoryError("cannot create a channel: \(error)") }
        return (.descriptor(channel.1.descriptor), SocketCompletionSource(socket: channel.0))
    }

    // MARK: Calls

    func flush() -> MagmaError? {
        if case .failure(let error) = call(.flush(.init())) { return error }
        return state.withLock { $0.error }
    }

    func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool {
        guard case .isPerformanceCounterAccessAllowedReply(let answer) = try call(.isPerformanceCounterAccessAllowed(.init())).get() else {
            throw .internalError("the server answered with another message")
        }
        return answer.enabled
    }

    func importBuffer(_ memory: SharedMemory, id: ObjectId, memoryType: UInt32) throws(MagmaError) {
        guard let descriptor = memory.descriptor else {
            throw .invalidArgs("memory of this process only (\(memory.kind)) cannot be sent to magmad")
        }
        let message = PrimaryProtocol.ImportBuffer(buffer: WireHandle(descriptor.fileDescriptor), bufferId: id, memoryType: memoryType)
        let reply = withExtendedLifetime(memory) { call(.importBuffer(message)) }
        guard case .importBufferReply(let answer) = try reply.get() else { throw .internalError("the server answered with another message") }
        guard answer.status == .ok else { throw MagmaError(answer.status, answer.reason) }
    }

    func memoryBudget(heap: UInt32) throws(MagmaError) -> MemoryBudget {
        guard case .memoryBudgetReply(let answer) = try call(.getMemoryBudget(.init(heap: heap))).get() else {
            throw .internalError("the server answered with another message")
        }
        guard answer.status == .ok else { throw MagmaError(answer.status, "memory budget of heap \(heap)") }
        return MemoryBudget(budget: answer.budget, usage: answer.usage)
    }

    /// The error as known, after reading what the server sent if anything has arrived on the
    /// primary channel (the client loop says so; without it, a zero-timeout poll does). Nothing
    /// is received, and no syscall made, while nothing has arrived.
    var error: MagmaError? {
        if let known = state.withLock({ $0.error }) { return known }
        guard serverMessages.isWatched else {
            guard primary.isReadableNow else { return nil }
            return drainIfNoReader()
        }
        guard serverMessages.takeArrival() else { return nil }
        primaryChannelChecks.add(1, ordering: .relaxed)
        let error = drainIfNoReader()
        if error == nil { serverMessages.rearm() }
        return error
    }

    /// After a wake-up: the process's watch raises its flag on its own thread, a moment after
    /// the epitaph arrived, so a waiter woken by the connection's channels looks at the primary
    /// channel itself (one zero-timeout poll) instead of trusting the flag.
    var errorAfterWake: MagmaError? {
        if let known = state.withLock({ $0.error }) { return known }
        guard primary.isReadableNow else { return nil }
        return drainIfNoReader()
    }

    /// How often `error` has read the primary channel because something arrived, for tests
    /// that a healthy connection's checks read nothing.
    let primaryChannelChecks = Atomic<Int>(0)

    /// The primary channel: readable when a message or the epitaph arrives, and from then on
    /// once the connection has ended (the server closed it, or the client shut it down when it
    /// recorded the connection's error).
    var failureDescriptor: FileDescriptor { primary.descriptor.fileDescriptor }

    // MARK: Notifications

    var notificationDescriptor: FileDescriptor { notification.descriptor.fileDescriptor }

    /// The server sends the epitaph before it closes the notification channel, so once the
    /// channel has hung up, the primary channel holds the epitaph if there is one; without it
    /// (magmad was killed), the connection is lost.
    var notificationChannelError: MagmaError? {
        let known = state.withLock { state -> (done: Bool, error: MagmaError?) in
            (state.error != nil || state.closed, state.error)
        }
        if known.done { return known.error }
        let hungUp = Poller.isHungUp(notification.descriptor.fileDescriptor)
        _ = drainIfNoReader()
        guard hungUp else { return state.withLock { $0.error } }
        let error = state.withLock { state in
            record(MagmaError(.connectionLost, "the server closed the notification channel"), &state)
            return state.error
        }
        state.broadcast()
        return error
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
            serverMessages.stop()
            primary.shutdown()
            notification.shutdown()
        }
        state.broadcast()
    }

    // MARK: Sending

    /// Encodes `message`; one that cannot be encoded fails the connection, as the server would.
    private func encode(_ message: PrimaryProtocol.ClientMessage, transactionId: UInt32 = 0) -> EncodedMessage? {
        do { return try message.encoded(transactionId: transactionId) } catch {
            fail(.invalidArgs("\(type(of: message.message).name) cannot be sent: \(error)"))
            return nil
        }
    }

    /// Sends `encoded` without waiting in the kernel: while the channel is full, or while flow
    /// control says so (for a message `counted` against it, importing that many bytes), it
    /// waits with no lock held, until the deadline. Returns whether it was sent.
    private func sendWaiting(_ encoded: EncodedMessage, counted bytes: UInt64?, deadline: Deadline) -> Bool {
        while true {
            let attempt = state.withLock { state in trySend(encoded, counted: bytes, &state) }
            switch attempt {
            case .sent: return true
            case .failed:
                state.broadcast()
                return false
            case .full:
                guard primary.waitWritable(until: deadline) else { return false }
            case .overBudget:
                let roomOrEnd = awaitServer(until: deadline) { state -> Bool? in
                    state.error != nil || state.closed || state.budget?.mustWait(forBytes: bytes ?? 0) != true ? true : nil
                }
                guard roomOrEnd != nil else { return false }
            }
        }
    }

    /// One attempt to send, under the lock: a non-blocking send (which does not wait).
    private func trySend(_ encoded: EncodedMessage, counted bytes: UInt64?, _ state: inout State) -> SendAttempt {
        guard state.error == nil, !state.closed else { return .failed }
        if let bytes, state.budget?.mustWait(forBytes: bytes) == true { return .overBudget }
        do {
            try primary.send(encoded.bytes, descriptors: encoded.handles.map(\.descriptor), wait: false)
            if let bytes { state.budget?.sent(importing: bytes) }
            return .sent
        } catch where error.code == EAGAIN || error.code == EWOULDBLOCK {
            return .full
        } catch {
            // The server closed the connection; its epitaph may be waiting. A reader, if there
            // is one, reads it (and the end of the channel); otherwise it is read here.
            guard !state.reading else { return .failed }
            while receiveFromServer(&state) {}
            record(MagmaError(.connectionLost, "the server is gone: \(error)"), &state)
            return .failed
        }
    }

    // MARK: Waiting for the server

    /// Sends a synchronous call and waits for its reply (or the connection's end). TIMED_OUT
    /// when no reply came within the call timeout; the connection stays as it is.
    private func call(_ message: PrimaryProtocol.ClientMessage) -> Result<PrimaryProtocol.ServerMessage, MagmaError> {
        let deadline = Deadline(after: callTimeoutNanoseconds)
        let transaction: UInt32 = state.withLock { state in
            let transaction = state.nextTransaction
            state.nextTransaction = transaction == .max ? 1 : transaction + 1
            return transaction
        }
        let name = type(of: message.message).name
        if let failure = state.withLock({ state -> MagmaError? in
            if let error = state.error { return error }
            return state.closed ? .badState("connection was released") : nil
        }) { return .failure(failure) }
        guard let encoded = encode(message, transactionId: transaction) else {
            return .failure(state.withLock { $0.error } ?? .invalidArgs("\(name) cannot be sent"))
        }
        guard sendWaiting(encoded, counted: nil, deadline: deadline) else {
            if let error = state.withLock({ $0.error }) { return .failure(error) }
            return .failure(DeviceCallTimeout.error(name, callTimeoutNanoseconds))
        }
        let outcome = awaitServer(until: deadline) { state -> Result<PrimaryProtocol.ServerMessage, MagmaError>? in
            if let reply = state.replies.removeValue(forKey: transaction) { return .success(reply) }
            if let error = state.error { return .failure(error) }
            return nil
        }
        if let outcome { return outcome }
        state.withLock { _ = $0.abandoned.insert(transaction) }
        return .failure(DeviceCallTimeout.error(name, callTimeoutNanoseconds))
    }

    /// Waits until `satisfied` returns a value or the deadline passes (nil), with no lock held
    /// while blocked: the first waiter becomes the reader (polls the primary channel, then reads
    /// what arrived without waiting and wakes the others); the others sleep until it has read.
    private func awaitServer<Result>(until deadline: Deadline, _ satisfied: (inout State) -> Result?) -> Result? {
        while true {
            let turn: AwaitTurn<Result>? = state.wait(until: deadline) { state in
                if let result = satisfied(&state) { return .done(result) }
                guard !state.reading else { return nil }
                state.reading = true
                return .read
            }
            switch turn {
            case nil: return state.withLock { satisfied(&$0) }
            case .done(let result)?: return result
            case .read?:
                let readable = primary.waitReadable(until: deadline)
                state.withLock { state in
                    if readable { while receiveFromServer(&state) {} }
                    state.reading = false
                }
                state.broadcast()
                if !readable, deadline.hasPassed { return state.withLock { satisfied(&$0) } }
            }
        }
    }

    /// Reads what the server has sent, without waiting, unless another thread is the reader
    /// (it reads it); returns the connection's error.
    private func drainIfNoReader() -> MagmaError? {
        let (error, read) = state.withLock { state -> (MagmaError?, Bool) in
            guard !state.reading else { return (state.error, false) }
            var read = false
            while state.error == nil, receiveFromServer(&state) { read = true }
            return (state.error, read || state.error != nil)
        }
        if read { state.broadcast() }
        return error
    }

    /// Reads and records one message from the server, without waiting. Returns whether one
    /// was read.
    private func receiveFromServer(_ state: inout State) -> Bool {
        let datagram: Datagram?
        do { datagram = try primary.receive(capacity: ProtocolLimits.maxMessageBytes, wait: false) } catch {
            record(MagmaError(.connectionLost, "primary channel: \(error)"), &state)
            return false
        }
        guard case .message(let bytes, let descriptors, _)? = datagram else {
            if datagram != nil { record(MagmaError(.connectionLost, "the server closed the connection"), &state) }
            return false
        }
        do {
            let received = try PrimaryProtocol.ServerMessage.decode(bytes: bytes, handles: descriptors.map { WireHandle($0.fileDescriptor) })
            switch received.message {
            case .onNotifyMessagesConsumed(let event): state.budget?.messagesConsumed(event.count)
            case .onNotifyMemoryImported(let event): state.budget?.memoryImported(event.bytes)
            case .epitaph(let epitaph):
                let status = epitaph.status == .ok ? MagmaStatus.internalError : epitaph.status
                record(MagmaError(status, epitaph.reason.isEmpty ? "closed by the server" : epitaph.reason), fromServer: true, &state)
            case .flushReply, .isPerformanceCounterAccessAllowedReply, .importBufferReply, .memoryBudgetReply:
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
        state.broadcast()
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

/// What a thread waiting for the server does next: return what it waited for, or read.
private enum AwaitTurn<Result> {
    case done(Result)
    case read
}

/// A pool's completions from magmad: performance_counter_events messages on the pool's channel.
final class SocketCompletionSource: PerformanceCounterEventSource {
    private let socket: MessageSocket

    init(socket: MessageSocket) { self.socket = socket }

    deinit { socket.shutdown() }

    var descriptor: FileDescriptor { socket.descriptor.fileDescriptor }

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
    /// The descriptor that travels beside the message (none for an in-process object or memory
    /// with no descriptor, which `SocketConnectionTransport.send` refuses).
    public var wireHandle: WireHandle {
        switch self {
        case .buffer(let memory): WireHandle(memory.descriptor?.fileDescriptor ?? FileDescriptor(rawValue: -1))
        case .semaphore(let event): WireHandle(event.descriptor.fileDescriptor)
        case .timeline(let timeline): WireHandle(timeline.descriptor.fileDescriptor)
        case .descriptor(let descriptor): WireHandle(descriptor.fileDescriptor)
        case .local: WireHandle(FileDescriptor(rawValue: -1))
        }
    }
}
