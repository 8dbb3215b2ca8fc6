import Logging
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaWire

/// Serves one client of a device endpoint: answers queries, and opens a served connection
/// for each connect. Any malformed message ends the session (connections it opened go on).
struct DeviceSession: SessionServer {
    let socket: MessageSocket
    let server: MagmaServer
    let logger: Logger

    func serveArrived() -> Bool {
        serveRequests(on: socket, logger: logger, decode: DeviceProtocol.ClientMessage.decode) { received, descriptors in
            switch received.message {
            case .query(let query):
                return answer(query, transactionId: received.header.transactionId)
            case .connect(let connect):
                let primary = descriptors.owning(connect.primary.descriptor)
                let notification = descriptors.owning(connect.notification.descriptor)
                guard let primary, let notification else { return false }
                server.serveConnection(clientId: connect.clientId, peer: socket.peerCredentials, primary: MessageSocket(adopting: primary),
                                       notification: MessageSocket(adopting: notification))
                return true
            case .getDeviceInfo:
                return describeDevice(transactionId: received.header.transactionId)
            }
        }
    }

    /// Sends the device's description (`SystemDevice.info`) without waiting; false as `answer`.
    private func describeDevice(transactionId: UInt32) -> Bool {
        let reply = DeviceProtocol.DeviceInfoReply(describing: server.device.info)
        do {
            try socket.send(try reply.encoded(transactionId: transactionId).bytes, wait: false)
            return true
        } catch {
            logger.debug("device info reply not sent: \(error)")
            return false
        }
    }

    /// Sends the query's answer without waiting; false if the client is gone or leaves its
    /// socket full (it does not read its replies).
    private func answer(_ query: DeviceProtocol.Query, transactionId: UInt32) -> Bool {
        var reply = DeviceProtocol.QueryReply(status: .ok, value: 0, buffer: nil)
        var keepAlive: SharedMemory?
        do {
            switch try server.device.query(query.queryId) {
            case .value(let value): reply.value = value
            case .buffer(let memory):
                if let descriptor = memory.descriptor {
                    keepAlive = memory
                    reply.buffer = WireHandle(descriptor.fileDescriptor)
                } else {
                    reply.status = .internalError // a query's answer is a memfd the driver made
                }
            }
        } catch {
            reply.status = error.status
        }
        defer { withExtendedLifetime(keepAlive) {} }
        do {
            let encoded = try reply.encoded(transactionId: transactionId)
            try socket.send(encoded.bytes, descriptors: encoded.handles.map(\.descriptor), wait: false)
            return true
        } catch {
            logger.debug("query reply not sent: \(error)")
            return false
        }
    }
}

/// Serves one client of the performance-counter endpoint: hands out the device's access token.
struct PerformanceCounterSession: SessionServer {
    let socket: MessageSocket
    let device: SystemDevice
    let logger: Logger

    func serveArrived() -> Bool {
        serveRequests(on: socket, logger: logger, decode: PerformanceCounterAccessProtocol.ClientMessage.decode) { received, _ in
            switch received.message {
            case .getPerformanceCountToken:
                guard let token = device.performanceCounterToken.descriptor else { return false } // a memfd: it has one
                let reply = PerformanceCounterAccessProtocol.GetPerformanceCountTokenReply(accessToken: WireHandle(token.fileDescriptor))
                guard let encoded = try? reply.encoded(transactionId: received.header.transactionId),
                      (try? socket.send(encoded.bytes, descriptors: [token.fileDescriptor], wait: false)) != nil else { return false }
                logger.info("performance-counter token handed out")
                return true
            }
        }
    }
}

/// One client session of an endpoint, served by the server's event loop.
protocol SessionServer: Sendable {
    /// Handles the requests that have arrived (a few at most: the session then waits for its
    /// turn again), without waiting for more. Returns false once the session is over: the
    /// client hung up, a message was malformed or its answer could not be sent.
    func serveArrived() -> Bool
}

/// How many requests one turn of a worker handles on a session.
private let requestsPerTurn = 16

/// Reads and handles the requests pending on a device-side channel, at most `requestsPerTurn`;
/// false once the channel has ended, a message is malformed or `handle` returns false (the
/// client is gone).
private func serveRequests<Message: Sendable>(
    on socket: MessageSocket, logger: Logger,
    decode: ([UInt8], [WireHandle]) throws(WireError) -> Received<Message>,
    handle: (Received<Message>, [OwnedFileDescriptor]) -> Bool
) -> Bool {
    for _ in 0..<requestsPerTurn {
        let datagram: Datagram?
        do { datagram = try socket.receive(capacity: ProtocolLimits.maxMessageBytes, wait: false) } catch { return false }
        guard let datagram else { return true }
        guard case .message(let bytes, let descriptors, let truncated) = datagram else { return false }
        guard !truncated else {
            logger.notice("message or its descriptors too large; closing the session")
            return false
        }
        let received: Received<Message>
        do { received = try decode(bytes, descriptors.map { WireHandle($0.fileDescriptor) }) } catch {
            logger.notice("malformed message (\(error)); closing the session")
            return false
        }
        guard handle(received, descriptors) else { return false }
    }
    return true
}
