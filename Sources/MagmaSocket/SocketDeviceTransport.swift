import Glibc
import Magma
import MagmaPlatform
import MagmaPrimary
import MagmaProtocol
import MagmaWire
import SystemPackage

/// The magmad backend: reaches a device served by magmad through its endpoint socket (for
/// example `$XDG_RUNTIME_DIR/magma/gpu/000`). Queries are synchronous calls on the device
/// channel; each connection gets two new channels of its own, handed to the server in `connect`.
///
/// Every synchronous call (query, connect, the performance-counter token, and each connection's
/// flush) waits at most `callTimeoutNanoseconds` for its answer, then throws TIMED_OUT. Calls
/// on the device channel take turns; none holds a lock while it waits for the server.
public final class SocketDeviceTransport: DeviceBackend {
    private struct State {
        var nextTransaction: UInt32 = 1
        var flowControl: FlowControlLimits?
        /// The device's description, once asked for (it is constant).
        var deviceInfo: PhysicalDeviceInfo?
    }

    /// Who may use the device channel: one call at a time (replies come back in order on the
    /// one channel), taken and given back under the lock but held with no lock while the call
    /// waits for the server. A caller waiting for its turn sleeps on the condition, up to the
    /// call timeout.
    private struct Turn {
        var state = State()
        var busy = false
    }

    private let socket: MessageSocket
    private let turn = LockedCondition(Turn())
    /// The endpoint's path, when known.
    private let path: String?
    /// How long a synchronous call waits for its answer (`Poller.forever`: no bound).
    public let callTimeoutNanoseconds: UInt64

    /// Connects to the device endpoint at `path`. CONNECTION_LOST if nothing serves there,
    /// ACCESS_DENIED without permission, INVALID_ARGS if the path cannot be an endpoint (a
    /// regular file, a directory, too long); the message says which, with the errno. Calls wait
    /// at most `callTimeoutNanoseconds` (default: `DeviceCallTimeout.fromEnvironment`, 5 s unless
    /// MAGMA_DEVICE_TIMEOUT_MS says otherwise).
    public init(path: String, callTimeoutNanoseconds: UInt64 = DeviceCallTimeout.fromEnvironment) throws(MagmaError) {
        do { socket = try MessageSocket.connect(path: path, sendTimeoutNanoseconds: callTimeoutNanoseconds) } catch {
            if error.code == EAGAIN { throw DeviceCallTimeout.error("connecting to \(path)", callTimeoutNanoseconds) }
            throw .openingDevice(at: path, error)
        }
        do { try socket.setReceiveTimeout(nanoseconds: callTimeoutNanoseconds) } catch { throw .openingDevice(at: path, error) }
        self.path = path
        self.callTimeoutNanoseconds = callTimeoutNanoseconds
    }

    /// Uses a socket already connected to a device endpoint (magma_device_import's channel).
    /// INVALID_ARGS unless it is a connected SOCK_SEQPACKET socket.
    public init(adopting descriptor: OwnedFileDescriptor, callTimeoutNanoseconds: UInt64 = DeviceCallTimeout.fromEnvironment) throws(MagmaError) {
        let socket = MessageSocket(adopting: descriptor)
        guard socket.isConnectedSequencedPacket else { throw .invalidArgs("not a connected SOCK_SEQPACKET socket") }
        do {
            try socket.setSendTimeout(nanoseconds: callTimeoutNanoseconds)
            try socket.setReceiveTimeout(nanoseconds: callTimeoutNanoseconds)
        } catch { throw .invalidArgs("\(error)") }
        self.socket = socket
        path = nil
        self.callTimeoutNanoseconds = callTimeoutNanoseconds
    }

    /// Asks the performance-counter endpoint beside this device's
    /// (`RuntimeDirectory.performanceCounterEndpoint(besideDevice:)`) for the token.
    public func performanceCounterToken() throws(MagmaError) -> OwnedFileDescriptor {
        guard let path, let endpoint = RuntimeDirectory.performanceCounterEndpoint(besideDevice: path) else {
            throw .accessDenied("no performance-counter endpoint is known for this device")
        }
        return try Self.performanceCounterToken(path: endpoint, callTimeoutNanoseconds: callTimeoutNanoseconds)
    }

    deinit { socket.shutdown() }

    public func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer {
        try inTurn("query \(id)") { state throws(MagmaError) in try query(id, &state) }
    }

    /// Runs `body` as the one call on the device channel, with the channel's state; waits for
    /// the turn (no lock held) at most the call timeout, then TIMED_OUT (`name`, built only
    /// then, says which call).
    private func inTurn<Result>(_ name: @autoclosure () -> String, _ body: (inout State) throws(MagmaError) -> Result) throws(MagmaError) -> Result {
        let deadline = Deadline(after: callTimeoutNanoseconds)
        let taken: State? = turn.wait(until: deadline) { turn in
            guard !turn.busy else { return nil }
            turn.busy = true
            return turn.state
        }
        guard var state = taken else { throw DeviceCallTimeout.error("\(name()) (another call on the device channel did not end)", callTimeoutNanoseconds) }
        defer {
            turn.withLock { turn in
                turn.state = state
                turn.busy = false
            }
            turn.broadcast()
        }
        return try body(&state)
    }

    public func connect() throws(MagmaError) -> any ConnectionBackend {
        try inTurn("connect") { state throws(MagmaError) in
            if state.flowControl == nil, case .value(let packed) = try query(.maximumInflightParams, &state) {
                state.flowControl = FlowControlLimits(queryValue: packed)
            }
            let primary: (MessageSocket, MessageSocket)
            let notification: (MessageSocket, MessageSocket)
            do {
                primary = try MessageSocket.pair()
                notification = try MessageSocket.pair()
            } catch { throw .memoryError("cannot create channels: \(error)") }
            let request = DeviceProtocol.Connect(clientId: UInt64(getpid()), primary: WireHandle(primary.1.descriptor.fileDescriptor),
                                                 notification: WireHandle(notification.1.descriptor.fileDescriptor))
            let memoryTypes = try deviceInfo(&state).memoryProperties.types
            try send(request)
            let transport = SocketConnectionTransport(primary: primary.0, notification: notification.0, limits: state.flowControl,
                                                      callTimeoutNanoseconds: callTimeoutNanoseconds)
            return PrimaryConnection(requests: transport, transport: transport, memoryTypes: memoryTypes)
        }
    }

    /// GetDeviceInfo on the device channel, asked once.
    public func physicalDeviceInfo() throws(MagmaError) -> PhysicalDeviceInfo {
        try inTurn("get device info") { state throws(MagmaError) in try deviceInfo(&state) }
    }

    private func deviceInfo(_ state: inout State) throws(MagmaError) -> PhysicalDeviceInfo {
        if let known = state.deviceInfo { return known }
        let transaction = state.nextTransaction
        state.nextTransaction = transaction == .max ? 1 : transaction + 1
        let reply = try DeviceCall.perform(DeviceProtocol.GetDeviceInfo(), transactionId: transaction, on: socket,
                                           timeoutNanoseconds: callTimeoutNanoseconds) {
            bytes, handles throws(WireError) in try DeviceProtocol.ServerMessage.decode(bytes: bytes, handles: handles)
        }
        guard case .deviceInfoReply(let answer) = reply.message.message else { throw .internalError("get device info: another reply") }
        guard answer.status == .ok else { throw MagmaError(answer.status, "get device info") }
        let info = answer.physicalDeviceInfo
        state.deviceInfo = info
        return info
    }

    /// Asks the performance-counter endpoint at `path` for the token that
    /// `Connection.enablePerformanceCounterAccess` presents. Only clients allowed to open that
    /// endpoint (its file mode is 0600) get one. TIMED_OUT after `callTimeoutNanoseconds`.
    public static func performanceCounterToken(path: String, callTimeoutNanoseconds: UInt64 = DeviceCallTimeout.fromEnvironment)
        throws(MagmaError) -> OwnedFileDescriptor {
        let socket: MessageSocket
        do { socket = try MessageSocket.connect(path: path, sendTimeoutNanoseconds: callTimeoutNanoseconds) } catch {
            if error.code == EAGAIN { throw DeviceCallTimeout.error("connecting to \(path)", callTimeoutNanoseconds) }
            throw MagmaError(.accessDenied, "cannot open the performance-counter endpoint \(path): \(error)")
        }
        return try performanceCounterToken(endpoint: socket, callTimeoutNanoseconds: callTimeoutNanoseconds)
    }

    /// Asks for the token on a socket already connected to a performance-counter endpoint,
    /// and closes it. TIMED_OUT after `callTimeoutNanoseconds`.
    public static func performanceCounterToken(endpoint socket: MessageSocket, callTimeoutNanoseconds: UInt64 = DeviceCallTimeout.fromEnvironment)
        throws(MagmaError) -> OwnedFileDescriptor {
        defer { socket.shutdown() }
        do { try socket.setReceiveTimeout(nanoseconds: callTimeoutNanoseconds) } catch { throw .accessDenied("the performance-counter endpoint: \(error)") }
        let reply = try DeviceCall.perform(PerformanceCounterAccessProtocol.GetPerformanceCountToken(), transactionId: 1, on: socket,
                                           timeoutNanoseconds: callTimeoutNanoseconds) {
            bytes, handles throws(WireError) in
            try PerformanceCounterAccessProtocol.ServerMessage.decode(bytes: bytes, handles: handles)
        }
        guard case .getPerformanceCountTokenReply(let answer) = reply.message.message,
              let token = reply.descriptors.owning(answer.accessToken.descriptor) else {
            throw .accessDenied("the endpoint did not hand out a token")
        }
        return token
    }

    private func query(_ id: QueryId, _ state: inout State) throws(MagmaError) -> QueryAnswer {
        let transaction = state.nextTransaction
        state.nextTransaction = transaction == .max ? 1 : transaction + 1
        let reply = try DeviceCall.perform(DeviceProtocol.Query(queryId: id), transactionId: transaction, on: socket,
                                           timeoutNanoseconds: callTimeoutNanoseconds) {
            bytes, handles throws(WireError) in try DeviceProtocol.ServerMessage.decode(bytes: bytes, handles: handles)
        }
        switch reply.message.message {
        case .queryReply(let answer):
            guard answer.status == .ok else { throw MagmaError(answer.status, "query \(id)") }
            guard let handle = answer.buffer else { return .value(answer.value) }
            guard let descriptor = reply.descriptors.owning(handle.descriptor) else {
                throw .internalError("query \(id): buffer missing")
            }
            do { return .buffer(try SharedMemory.importing(descriptor)) } catch {
                throw .internalError("query \(id): the server sent a bad buffer: \(error)")
            }
        case .deviceInfoReply:
            throw .internalError("query \(id): the server answered with device info")
        }
    }

    private func send(_ message: some WireMessage) throws(MagmaError) {
        let encoded: EncodedMessage
        do { encoded = try message.encoded() } catch { throw .internalError("\(type(of: message).name) cannot be sent: \(error)") }
        try DeviceCall.send(encoded, on: socket, name: type(of: message).name, timeoutNanoseconds: callTimeoutNanoseconds)
    }
}

/// A synchronous call on a device-side channel: send, then read until the reply.
enum DeviceCall {
    struct Reply<Message: Sendable> {
        var message: Received<Message>
        var descriptors: [OwnedFileDescriptor]
    }

    /// Sends `request` and reads until its reply; TIMED_OUT when the reply has not come within
    /// `timeoutNanoseconds`. The socket's send and receive timeouts (SO_SNDTIMEO, SO_RCVTIMEO)
    /// must be that bound: the send and each receive block at most that long, so waiting for the
    /// reply is one receive, and the call's deadline ends a stream of other replies.
    static func perform<Message: Sendable>(
        _ request: some WireMessage, transactionId: UInt32, on socket: MessageSocket, timeoutNanoseconds: UInt64,
        decode: ([UInt8], [WireHandle]) throws(WireError) -> Received<Message>
    ) throws(MagmaError) -> Reply<Message> {
        let name = type(of: request).name
        let deadline = Deadline(after: timeoutNanoseconds)
        let encoded: EncodedMessage
        do { encoded = try request.encoded(transactionId: transactionId) } catch { throw .internalError("\(name) cannot be sent: \(error)") }
        try send(encoded, on: socket, name: name, timeoutNanoseconds: timeoutNanoseconds)
        while true {
            guard !deadline.hasPassed else { throw DeviceCallTimeout.error(name, timeoutNanoseconds) }
            let datagram: Datagram?
            do { datagram = try socket.receive(capacity: ProtocolLimits.maxMessageBytes, wait: true) } catch where error.errno == .wouldBlock {
                throw DeviceCallTimeout.error(name, timeoutNanoseconds)
            } catch {
                throw MagmaError(.connectionLost, "device channel: \(error)")
            }
            guard let datagram else { continue }
            guard case .message(let bytes, let descriptors, _) = datagram else { throw MagmaError(.connectionLost, "the server closed the device channel") }
            let received: Received<Message>
            do { received = try decode(bytes, descriptors.map { WireHandle($0.fileDescriptor) }) } catch {
                throw .internalError("malformed reply: \(error)")
            }
            if received.header.transactionId == transactionId { return Reply(message: received, descriptors: descriptors) }
        }
    }
}

extension DeviceCall {
    /// Sends one message on a device-side channel whose send timeout is `timeoutNanoseconds`.
    static func send(_ encoded: EncodedMessage, on socket: MessageSocket, name: String, timeoutNanoseconds: UInt64) throws(MagmaError) {
        do { try socket.send(encoded.bytes, descriptors: encoded.handles.map(\.descriptor)) } catch {
            if error.code == EAGAIN { throw DeviceCallTimeout.error(name, timeoutNanoseconds) }
            throw MagmaError(.connectionLost, "device channel: \(error)")
        }
    }
}
