import Foundation
import Logging
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaServer
import MagmaSystem
import MagmaWire
import SoftGPU
import Testing

/// A MagmaServer on SoftGPU listening in a fresh temporary directory, stopped on deinit.
final class TestServer: Sendable {
    let directory: String
    let server: MagmaServer

    convenience init(flowControl: FlowControlLimits = .standard, connectionLimits: ConnectionLimits = .untrusted, maxConnections: Int = 64,
                     watchdogNanoseconds: UInt64 = 2_000_000_000) throws {
        try self.init(flowControl: flowControl, connectionLimits: connectionLimits, maxConnections: maxConnections,
                      softGPU: SoftGPUConfiguration(watchdogNanoseconds: watchdogNanoseconds))
    }

    /// A server whose SoftGPU runs with `softGPU`, its memory reserve measured by `memoryGauge`
    /// (sampled on every check) when one is given.
    init(flowControl: FlowControlLimits = .standard, connectionLimits: ConnectionLimits = .untrusted, maxConnections: Int = 64,
         softGPU: SoftGPUConfiguration, memoryGauge: (any MemoryGauge)? = nil, minAvailableBytes: UInt64 = ServerLimits.standard.minAvailableBytes) throws {
        directory = FileManager.default.temporaryDirectory.appending(path: "magma-test-\(UUID().uuidString.prefix(8))").path
        var logger = Logger(label: "test-magmad")
        logger.logLevel = .critical
        let driver = SoftGPUDriver(configuration: softGPU)
        var configuration = MagmaServer.Configuration(directory: directory, connectionLimits: connectionLimits,
                                                      maxConnections: maxConnections, logger: logger)
        configuration.serverLimits.minAvailableBytes = minAvailableBytes
        if let memoryGauge {
            configuration.memoryGauge = memoryGauge
            configuration.memorySampleNanoseconds = 0
        }
        server = MagmaServer(device: try SystemDevice(driver: driver, limits: flowControl), configuration: configuration)
        try server.start()
    }

    deinit {
        server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A device reached through the server's socket.
    func open() throws -> Device { try Device.open(.socket(server.devicePath)) }

    /// A session (connection + context) through the server's socket.
    func session(priority: Priority = .medium) throws -> GPUSession { try GPUSession(device: try open(), priority: priority) }
}

/// Descriptors open in this process now.
func openDescriptorCount(pid: Int32? = nil) -> Int {
    let path = pid.map { "/proc/\($0)/fd" } ?? "/proc/self/fd"
    return ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).count
}

/// Polls `condition` until it holds or `timeoutNanoseconds` passes; returns whether it held.
func eventually(timeoutNanoseconds: UInt64 = 10_000_000_000, _ condition: () -> Bool) -> Bool {
    let deadline = Clock.monotonicNanoseconds() + timeoutNanoseconds
    while Clock.monotonicNanoseconds() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// A client that speaks the wire protocol by hand, to send what the Swift API never would.
/// Its sockets give up after `RawClient.timeoutSeconds`: a server that stops answering (or
/// stops reading) fails the test instead of hanging it.
struct RawClient {
    /// How long one receive or send on a raw client's sockets may block.
    static let timeoutSeconds = 10

    let device: MessageSocket
    let primary: MessageSocket
    let notification: MessageSocket

    init(path: String) throws {
        device = try MessageSocket.connect(path: path)
        let (primaryClient, primaryServer) = try MessageSocket.pair()
        let (notificationClient, notificationServer) = try MessageSocket.pair()
        for socket in [device, primaryClient, notificationClient] { try Self.bound(socket) }   // only the client's ends
        let connect = try DeviceProtocol.Connect(clientId: 99, primary: WireHandle(primaryServer.descriptor.fileDescriptor),
                                                 notification: WireHandle(notificationServer.descriptor.fileDescriptor)).encoded()
        try device.send(connect.bytes, descriptors: connect.handles.map(\.descriptor))
        primary = primaryClient
        notification = notificationClient
    }

    func send(_ message: PrimaryProtocol.ClientMessage, transactionId: UInt32 = 0) throws {
        let encoded = try message.encoded(transactionId: transactionId)
        try primary.send(encoded.bytes, descriptors: encoded.handles.map(\.descriptor))
    }

    /// The next message from the server on the primary channel, or nil at its end; TIMED_OUT
    /// if the server neither sends nor closes within the timeout.
    func receive() throws -> PrimaryProtocol.ServerMessage? {
        let datagram: Datagram?
        do {
            datagram = try primary.receive(capacity: ProtocolLimits.maxMessageBytes)
        } catch {
            guard error.code == EAGAIN || error.code == EWOULDBLOCK else { throw error }
            throw MagmaError(.timedOut, "the server neither sent a message nor closed the primary channel within \(Self.timeoutSeconds) s")
        }
        guard case .message(let bytes, let descriptors, _)? = datagram else { return nil }
        return try PrimaryProtocol.ServerMessage.decode(bytes: bytes, handles: descriptors.map { WireHandle($0.fileDescriptor) }).message
    }

    /// Sets the receive and send timeouts of one of the client's sockets.
    private static func bound(_ socket: MessageSocket) throws {
        var limit = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            try SystemCall.once("setsockopt(SO_RCVTIMEO/SO_SNDTIMEO)") {
                setsockopt(socket.descriptor.rawValue, SOL_SOCKET, option, &limit, socklen_t(MemoryLayout<timeval>.size))
            }
        }
    }

    /// Reads until the epitaph and the end of the channel; returns the epitaph's status.
    func epitaph() throws -> MagmaStatus? {
        var status: MagmaStatus?
        while let message = try receive() {
            if case .epitaph(let epitaph) = message { status = epitaph.status }
        }
        return status
    }
}

/// Whether every thread of `pid` is in state T (stopped). SIGSTOP takes effect a moment after
/// kill returns: the thread that takes the signal starts the group stop when it next runs, and
/// on a loaded machine the others can serve a request before that.
func allThreadsStopped(pid: Int32) -> Bool {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return !tasks.isEmpty && tasks.allSatisfy { task in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
              let afterName = stat.range(of: ") ", options: .backwards) else { return false }
        return stat[afterName.upperBound...].hasPrefix("T")
    }
}
