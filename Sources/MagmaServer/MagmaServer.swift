import Dispatch
import Glibc
import Logging
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaWire

/// Serves a `SystemDevice` to other processes over Unix sockets, as Fuchsia's system driver
/// serves /dev/class/gpu/000:
///
/// - `<directory>/gpu/<name>`, mode 0666: the device endpoint (queries, connect);
/// - `<directory>/gpu-performance-counters/<name>`, mode 0600 in a 0700 directory: hands out
///   the token that grants performance-counter access.
///
/// Every client is untrusted and held to `connectionLimits` per connection and to
/// `serverLimits` per process, per user and in all. A client that goes away at any moment
/// leaves nothing behind: its connection's objects, mappings and descriptors are freed.
public final class MagmaServer: Sendable {
    /// Where and how to serve.
    public struct Configuration: Sendable {
        /// The runtime directory that holds the endpoints.
        public var directory: String
        /// The device's endpoint name.
        public var deviceName: String
        /// What each connection may hold.
        public var connectionLimits: ConnectionLimits
        /// What each client process and user may hold, and all clients together.
        public var serverLimits: ServerLimits
        /// Connections served at once (`serverLimits.maxConnections`); more are refused.
        public var maxConnections: Int {
            get { serverLimits.maxConnections }
            set { serverLimits.maxConnections = newValue }
        }
        /// Where the server logs.
        public var logger: Logger
        /// The worker threads that handle what clients send (the event loop itself is one more
        /// thread): as many as the machine has cores, and at least four, by default. However
        /// many clients there are, the server runs these threads and no more.
        public var workerThreads: Int
        /// Runs once the server has stopped by itself because it could no longer serve (its
        /// event loop failed; `failure` says why), on a thread of the server's. magmad exits.
        public var stoppedByFailure: (@Sendable () -> Void)?
        /// What `serverLimits.minAvailableBytes` is measured with (tests give their own).
        public var memoryGauge: any MemoryGauge = SystemMemoryGauge()
        /// How often the gauge is sampled at most.
        public var memorySampleNanoseconds: UInt64 = 100_000_000

        /// A configuration; `maxConnections`, if given, replaces `serverLimits.maxConnections`.
        public init(directory: String, deviceName: String = "000", connectionLimits: ConnectionLimits = .untrusted,
                    serverLimits: ServerLimits = .standard, maxConnections: Int? = nil, logger: Logger = Logger(label: "magmad"),
                    workerThreads: Int = Configuration.defaultWorkerThreads, stoppedByFailure: (@Sendable () -> Void)? = nil) {
            self.directory = directory
            self.stoppedByFailure = stoppedByFailure
            self.workerThreads = workerThreads
            self.deviceName = deviceName
            self.connectionLimits = connectionLimits
            self.serverLimits = serverLimits
            self.logger = logger
            if let maxConnections { self.serverLimits.maxConnections = maxConnections }
        }

        /// The cores of the machine, and at least four.
        public static var defaultWorkerThreads: Int { max(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
    }

    private struct State {
        var reactor: ServerReactor?
        var listeners: [(socket: MessageSocket, token: EventLoop.Token)] = []
        var sessions: [ObjectIdentifier: MessageSocket] = [:]
        /// Device and performance-counter sessions per client process and user.
        var sessionTally: ClientTally
        /// Connections per client process and user.
        var connectionTally: ClientTally
        var connections: [ObjectIdentifier: ServedConnection] = [:]
        /// What each client process, each user and all clients hold.
        var accounts: ClientAccounts
        var stopped = false
        /// Why the server stopped by itself, if it did.
        var failure: String?
    }

    /// The device served.
    public let device: SystemDevice
    /// The configuration it was started with.
    public let configuration: Configuration
    /// The memory kept in reserve (`ServerLimits.minAvailableBytes`).
    let memoryReserve: MemoryReserve
    private let state: Locked<State>
    private let threads = ThreadGroup()
    /// Sessions and connections being served: `stop()` waits for them to end.
    private let active = DispatchGroup()
    private var logger: Logger { configuration.logger }

    /// Why the server stopped by itself (its event loop failed), or nil.
    public var failure: String? { state.withLock { $0.failure } }

    /// The event loop, for tests that make it fail.
    var eventLoop: EventLoop? { state.withLock { $0.reactor?.loop } }

    /// The device endpoint.
    public var devicePath: String { RuntimeDirectory.deviceEndpoint(in: configuration.directory, name: configuration.deviceName) }
    /// The performance-counter endpoint.
    public var performanceCounterPath: String {
        RuntimeDirectory.performanceCounterEndpoint(in: configuration.directory, name: configuration.deviceName)
    }

    /// A server of `device`; nothing is served before `start()`.
    public init(device: SystemDevice, configuration: Configuration) {
        self.device = device
        self.configuration = configuration
        let limits = configuration.serverLimits
        memoryReserve = MemoryReserve(reserveBytes: limits.minAvailableBytes, gauge: configuration.memoryGauge,
                                      sampleNanoseconds: configuration.memorySampleNanoseconds)
        state = Locked(State(
            sessionTally: ClientTally(perProcess: limits.maxSessionsPerProcess, perUser: limits.maxSessionsPerUser, total: limits.maxSessions),
            connectionTally: ClientTally(perProcess: limits.maxConnectionsPerProcess, perUser: limits.maxConnectionsPerUser,
                                         total: limits.maxConnections),
            accounts: ClientAccounts(limits: limits)))
    }

    /// Creates the endpoints and starts accepting clients. Fails if another server already
    /// listens there; a stale socket left by a server that died is replaced.
    public func start() throws(MagmaError) {
        try Self.makeDirectory(configuration.directory, mode: 0o755)
        try Self.makeDirectory("\(configuration.directory)/\(RuntimeDirectory.devices)", mode: 0o755)
        try Self.makeDirectory("\(configuration.directory)/\(RuntimeDirectory.performanceCounters)", mode: 0o700)
        try Self.clearStaleSocket(devicePath)
        try Self.clearStaleSocket(performanceCounterPath)
        let deviceListener = try Self.listen(at: devicePath, permissions: 0o666)
        let counterListener = try Self.listen(at: performanceCounterPath, permissions: 0o600)
        do throws(PlatformError) {
            let reactor = try ServerReactor(workerCount: configuration.workerThreads, group: threads) { [weak self] error in
                self?.loopFailed(error)
            }
            state.withLock { $0.reactor = reactor }
            let deviceToken = try accept(on: deviceListener, name: "device", reactor: reactor) { socket in
                DeviceSession(socket: socket, server: self, logger: self.logger)
            }
            state.withLock { $0.listeners.append((deviceListener, deviceToken)) }
            let counterToken = try accept(on: counterListener, name: "performance-counter", reactor: reactor) { socket in
                PerformanceCounterSession(socket: socket, device: self.device, logger: self.logger)
            }
            state.withLock { $0.listeners.append((counterListener, counterToken)) }
        } catch {
            deviceListener.shutdown()
            counterListener.shutdown()
            unlink(devicePath)
            unlink(performanceCounterPath)
            stop()
            throw .memoryError("cannot serve the endpoints: \(error)")
        }
        logger.info("listening on \(devicePath) (performance counters: \(performanceCounterPath)); \(configuration.workerThreads) workers")
    }

    /// Stops serving: removes the endpoints, closes every session and connection (clients see
    /// CONNECTION_LOST), waits for them to end and for the server's threads.
    public func stop() {
        let (reactor, listeners, sessions, connections) = state.withLock { state in
            state.stopped = true
            return (state.reactor, state.listeners, Array(state.sessions.values), Array(state.connections.values))
        }
        guard let reactor else { return }
        unlink(devicePath)
        unlink(performanceCounterPath)
        for listener in listeners {
            reactor.loop.unwatch(listener.token)
            listener.socket.shutdown()
        }
        sessions.forEach { $0.shutdown() }
        connections.forEach { $0.stop() }
        if active.wait(timeout: .now() + .seconds(5)) != .success { logger.warning("some sessions or connections did not end within 5 s") }
        reactor.stop()
        if !threads.wait(timeoutNanoseconds: 5_000_000_000) { logger.warning("some server threads did not stop within 5 s") }
        state.withLock { state in
            state.listeners = []
            state.reactor = nil
        }
        logger.info("stopped")
    }

    /// The event loop can no longer wait, so nothing served would be heard from again. Every
    /// session and connection has been told it hung up (they end on the workers, and their
    /// clients see CONNECTION_LOST); the server stops, from a thread of its own, because
    /// `stop()` waits for the loop's thread, which this runs on.
    private func loopFailed(_ error: PlatformError) {
        let reason = "the event loop failed: \(error)"
        state.withLock { $0.failure = reason }
        logger.critical("\(reason); stopping")
        let stopAndReport: @Sendable () -> Void = { [self] in
            stop()
            configuration.stoppedByFailure?()
        }
        do {
            try HostThread.spawn(name: "magma-stop", stopAndReport)
        } catch {
            stopAndReport()   // no thread to be had: stop here, waiting in vain for this thread (5 s)
        }
    }

    /// Connections being served now.
    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Starts serving a connection whose channels `peer` (the process on the device session)
    /// handed over.
    func serveConnection(clientId: UInt64, peer: PeerCredentials?, primary: MessageSocket, notification: MessageSocket) {
        var connectionLogger = logger
        connectionLogger[metadataKey: "client"] = "\(clientId)"
        connectionLogger[metadataKey: "peer"] = "\(peer.map { "\($0)" } ?? "unknown peer")"
        let logger = connectionLogger
        let short = memoryReserve.refusal("a new connection")
        let refusal = state.withLock { state -> MagmaError? in
            guard !state.stopped, let reactor = state.reactor else { return .badState("the server is stopping") }
            if let short { return short }
            if let bound = state.connectionTally.take(for: peer) { return .memoryError("connections: \(bound)") }
            let account = state.accounts.take(for: peer)
            active.enter()
            do throws(MagmaError) {
                let served = try ServedConnection.start(
                    device: device, primary: primary, notification: notification, limits: configuration.connectionLimits,
                    maxQueuedNotifications: configuration.serverLimits.maxQueuedNotifications, account: account,
                    logger: logger, reactor: reactor) { [weak self] served in
                        self?.state.withLock { state in
                            _ = state.connections.removeValue(forKey: ObjectIdentifier(served))
                            state.connectionTally.give(for: peer)
                            state.accounts.give(for: peer)
                        }
                        logger.info("connection ended")
                        self?.active.leave()
                    }
                state.connections[ObjectIdentifier(served)] = served
                logger.info("connection opened")
                return nil
            } catch {
                state.connectionTally.give(for: peer)
                state.accounts.give(for: peer)
                active.leave()
                return error
            }
        }
        if let refusal { refuse(primary: primary, notification: notification, refusal, logger: logger) }
    }

    /// Tells a connection it is refused (the epitaph), then closes its channels.
    private func refuse(primary: MessageSocket, notification: MessageSocket, _ error: MagmaError, logger: Logger) {
        logger.warning("connection refused: \(error)")
        if let epitaph = try? PrimaryProtocol.Epitaph(status: error.status).encoded() {
            try? primary.send(epitaph.bytes, wait: false)
        }
        primary.shutdown()
        notification.shutdown()
    }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    /// Accepts clients on `listener` whenever the loop finds one waiting, until the server
    /// stops. No error ends it: a failed accept (out of descriptors, memory, or anything else)
    /// is logged, a client waiting in vain is refused (see `DescriptorReserve`), and accepting
    /// resumes after a short back-off (a timer, no thread waits).
    private func accept(on listener: MessageSocket, name: String, reactor: ServerReactor,
                        session: @escaping @Sendable (MessageSocket) -> any SessionServer) throws(PlatformError) -> EventLoop.Token {
        try listener.setNonBlocking()
        let reserve = Locked(DescriptorReserve())
        let failures = Locked(0)
        return try reactor.serve(listener.descriptor.fileDescriptor, for: .readable) { [self] token, readiness in
            for _ in 0..<Self.acceptsPerTurn {
                guard !isStopped, !readiness.isLoopFailure else { return .done }
                let client: MessageSocket
                do throws(PlatformError) {
                    guard let accepted = try listener.acceptIfPending() else { return .arm(.readable) }
                    client = accepted
                    failures.withLock { $0 = 0 }
                } catch {
                    let count = failures.withLock { count in
                        count += 1
                        return count
                    }
                    if count == 1 || count % 100 == 0 {
                        logger.error("accept on the \(name) endpoint failed (\(count) in a row): \(error); still accepting")
                    }
                    if error.code == EMFILE || error.code == ENFILE { reserve.withLock { $0.refuseOne(on: listener) } }
                    reactor.loop.after(nanoseconds: UInt64(min(count, 100)) * 1_000_000) { reactor.loop.arm(token, for: .readable) }
                    return .done
                }
                admit(client, name: name, reactor: reactor, session: session(client))
            }
            return .arm(.readable)
        }
    }

    /// How many clients one turn of a worker accepts on an endpoint.
    private static let acceptsPerTurn = 64

    /// Serves a new session on the loop, if the client's process, its user and the server all
    /// have room for one more; otherwise closes it at once (the client sees CONNECTION_LOST)
    /// and logs why.
    private func admit(_ client: MessageSocket, name: String, reactor: ServerReactor, session: any SessionServer) {
        let key = ObjectIdentifier(client)
        let peer = client.peerCredentials
        let peerName = peer.map { "\($0)" } ?? "unknown peer"
        let short = memoryReserve.refusal("a new session")
        let refusal: String? = state.withLock { state in
            if state.stopped { return "the server is stopping" }
            if let short { return short.message }
            if let bound = state.sessionTally.take(for: peer) { return bound }
            state.sessions[key] = client
            active.enter()
            return nil
        }
        if let refusal {
            logger.warning("session on the \(name) endpoint refused for \(peerName): \(refusal)")
            client.shutdown()
            return
        }
        logger.info("client on the \(name) endpoint: \(peerName)")
        do {
            _ = try reactor.serve(client.descriptor.fileDescriptor, for: .readable) { [self] token, readiness in
                guard !readiness.isLoopFailure, session.serveArrived() else {
                    reactor.loop.unwatch(token)
                    endSession(client, key: key, peer: peer)
                    return .done
                }
                return .arm(.readable)
            }
        } catch {
            logger.error("session on the \(name) endpoint refused for \(peerName): it cannot be watched (\(error))")
            endSession(client, key: key, peer: peer)
        }
    }

    private func endSession(_ client: MessageSocket, key: ObjectIdentifier, peer: PeerCredentials?) {
        client.shutdown()
        state.withLock { state in
            state.sessions[key] = nil
            state.sessionTally.give(for: peer)
        }
        active.leave()
    }

    private static func makeDirectory(_ path: String, mode: mode_t) throws(MagmaError) {
        if mkdir(path, mode) != 0, errno != EEXIST { throw .creatingDirectory(path, errno: errno) }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { throw .creatingDirectory(path, errno: ENOTDIR) }
    }

    private static func listen(at path: String, permissions: mode_t) throws(MagmaError) -> MessageSocket {
        do { return try MessageSocket.listen(path: path, permissions: permissions) } catch { throw .listening(at: path, error) }
    }

    /// Removes a socket no server answers on; fails if one does. Anything else at `path` is
    /// left alone (listening there then fails with EADDRINUSE).
    private static func clearStaleSocket(_ path: String) throws(MagmaError) {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return }
        if (try? MessageSocket.connect(path: path)) != nil { throw .badState("another server already listens on \(path)") }
        unlink(path)
    }
}
