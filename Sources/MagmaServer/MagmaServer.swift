import Glibc
import Logging
import MagmaPlatform
import MagmaProtocol
import MagmaSystem

/// Serves a `SystemDevice` to other processes over Unix sockets, as Fuchsia's system driver
/// serves /dev/class/gpu/000:
///
/// - `<directory>/gpu/<name>`, mode 0666: the device endpoint (queries, connect);
/// - `<directory>/gpu-performance-counters/<name>`, mode 0600 in a 0700 directory: hands out
///   the token that grants performance-counter access.
///
/// Every client is untrusted and held to `connectionLimits`. A client that goes away at any
/// moment leaves nothing behind: its connection's objects, mappings and descriptors are freed.
public final class MagmaServer: Sendable {
    /// Where and how to serve.
    public struct Configuration: Sendable {
        /// The runtime directory that holds the endpoints.
        public var directory: String
        /// The device's endpoint name.
        public var deviceName: String
        /// What each connection may hold.
        public var connectionLimits: ConnectionLimits
        /// Connections served at once; more are refused (their channels closed).
        public var maxConnections: Int
        /// Where the server logs.
        public var logger: Logger

        public init(directory: String, deviceName: String = "000", connectionLimits: ConnectionLimits = .untrusted,
                    maxConnections: Int = 1024, logger: Logger = Logger(label: "magmad")) {
            self.directory = directory
            self.deviceName = deviceName
            self.connectionLimits = connectionLimits
            self.maxConnections = maxConnections
            self.logger = logger
        }
    }

    private struct State {
        var listeners: [MessageSocket] = []
        var sessions: [ObjectIdentifier: MessageSocket] = [:]
        var connections: [ObjectIdentifier: ServedConnection] = [:]
        var stopped = false
    }

    /// The device served.
    public let device: SystemDevice
    /// The configuration it was started with.
    public let configuration: Configuration
    private let state = Locked(State())
    private let threads = ThreadGroup()
    private var logger: Logger { configuration.logger }

    /// The device endpoint.
    public var devicePath: String { RuntimeDirectory.deviceEndpoint(in: configuration.directory, name: configuration.deviceName) }
    /// The performance-counter endpoint.
    public var performanceCounterPath: String {
        RuntimeDirectory.performanceCounterEndpoint(in: configuration.directory, name: configuration.deviceName)
    }

    public init(device: SystemDevice, configuration: Configuration) {
        self.device = device
        self.configuration = configuration
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
        state.withLock { $0.listeners = [deviceListener, counterListener] }
        accept(on: deviceListener, name: "magma-device") { socket in
            DeviceSession(socket: socket, server: self, logger: self.logger).serve()
        }
        accept(on: counterListener, name: "magma-perf") { socket in
            PerformanceCounterSession(socket: socket, device: self.device, logger: self.logger).serve()
        }
        logger.info("listening on \(devicePath) (performance counters: \(performanceCounterPath))")
    }

    /// Stops serving: removes the endpoints, closes every session and connection (clients see
    /// CONNECTION_LOST) and waits for the server's threads.
    public func stop() {
        let (listeners, sessions, connections) = state.withLock { state in
            state.stopped = true
            return (state.listeners, Array(state.sessions.values), Array(state.connections.values))
        }
        guard !listeners.isEmpty else { return }
        unlink(devicePath)
        unlink(performanceCounterPath)
        listeners.forEach { $0.shutdown() }
        sessions.forEach { $0.shutdown() }
        connections.forEach { $0.shutdown() }
        if !threads.wait(timeoutNanoseconds: 5_000_000_000) { logger.warning("some server threads did not stop within 5 s") }
        state.withLock { $0.listeners = [] }
        logger.info("stopped")
    }

    /// Connections being served now.
    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Starts serving a connection whose channels a client handed over.
    func serveConnection(clientId: UInt64, primary: MessageSocket, notification: MessageSocket) {
        let peer = primary.peerCredentials.map { "\($0)" } ?? "unknown peer"
        var connectionLogger = logger
        connectionLogger[metadataKey: "client"] = "\(clientId)"
        connectionLogger[metadataKey: "peer"] = "\(peer)"
        let logger = connectionLogger
        state.withLock { state in
            guard !state.stopped, state.connections.count < configuration.maxConnections else {
                logger.warning("connection refused: \(state.connections.count) connections served")
                return
            }
            do {
                let served = try ServedConnection.start(
                    device: device, primary: primary, notification: notification, limits: configuration.connectionLimits,
                    logger: logger, group: threads) { [weak self] served in
                        self?.state.withLock { _ = $0.connections.removeValue(forKey: ObjectIdentifier(served)) }
                        logger.info("connection ended")
                    }
                state.connections[ObjectIdentifier(served)] = served
                logger.info("connection opened")
            } catch {
                logger.error("connection failed to open: \(error)")
            }
        }
    }

    private func accept(on listener: MessageSocket, name: String, serve: @escaping @Sendable (MessageSocket) -> Void) {
        threads.spawn(name: name) { [self] in
            while let client = try? listener.accept() {
                let key = ObjectIdentifier(client)
                let admitted = state.withLock { state in
                    if !state.stopped { state.sessions[key] = client }
                    return !state.stopped
                }
                guard admitted else { return }
                logger.info("client on \(name): \(client.peerCredentials.map { "\($0)" } ?? "unknown peer")")
                threads.spawn(name: name) { [self] in
                    serve(client)
                    client.shutdown()
                    state.withLock { _ = $0.sessions.removeValue(forKey: key) }
                }
            }
        }
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
