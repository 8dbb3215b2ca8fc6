import Logging
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaWire
import Synchronization

/// One client connection served over its two channels: requests arrive on the primary channel
/// (the server's event loop watches it; a worker reads and handles them, in order) and are
/// decoded with the generated codecs into `SystemConnection` calls; notifications leave through
/// a `NotificationPump`; an error leaves as an epitaph, then both channels close.
final class ServedConnection: NotificationSink, Sendable {
    private let primary: MessageSocket
    private let pump: NotificationPump
    private let logger: Logger
    private let system = Locked<SystemConnection?>(nil)
    private let flow: Locked<ServerFlowControl>
    private let epitaphSent = Atomic<Bool>(false)
    private let ended = Atomic<Bool>(false)
    private let onEnd: @Sendable (ServedConnection) -> Void

    /// Opens the system side of the connection, charging what it holds to `account`, and
    /// serves it on `reactor`: the loop watches its primary channel, and a worker handles what
    /// arrives, in order. `onEnd` runs once, after the connection has released everything it held.
    static func start(device: SystemDevice, primary: MessageSocket, notification: MessageSocket,
                      limits: ConnectionLimits, maxQueuedNotifications: Int, account: ResourceAccount,
                      logger: Logger, reactor: ServerReactor,
                      onEnd: @escaping @Sendable (ServedConnection) -> Void) throws(MagmaError) -> ServedConnection {
        let pump: NotificationPump
        do {
            pump = try NotificationPump(socket: notification, maxQueued: maxQueuedNotifications, limits: device.limits,
                                        reactor: reactor, logger: logger)
        } catch {
            throw .memoryError("the notification channel cannot be served: \(error)")
        }
        let served = ServedConnection(primary: primary, pump: pump, logger: logger, flowLimits: device.limits, onEnd: onEnd)
        let connection: SystemConnection
        do { connection = try device.openConnection(trust: .untrusted, limits: limits, account: account, sink: served) } catch {
            pump.abort()
            throw error
        }
        served.system.withLock { $0 = connection }
        pump.onOverflow { [weak connection] reason in connection?.fail(.memoryError(reason)) }
        do {
            _ = try reactor.serve(primary.descriptor.fileDescriptor, for: .readable) { token, readiness in
                readiness.isLoopFailure ? served.end(token: token, reactor: reactor) : served.serveReadable(token: token, reactor: reactor)
            }
        } catch {
            connection.close()
            served.system.withLock { $0 = nil }
            served.stop()
            throw .memoryError("the primary channel cannot be served: \(error)")
        }
        return served
    }

    private init(primary: MessageSocket, pump: NotificationPump, logger: Logger, flowLimits: FlowControlLimits,
                 onEnd: @escaping @Sendable (ServedConnection) -> Void) {
        self.primary = primary
        self.pump = pump
        self.logger = logger
        self.onEnd = onEnd
        flow = Locked(ServerFlowControl(limits: flowLimits))
    }

    /// Ends the connection: the primary channel reads as ended, so the worker that next serves
    /// it cleans up; queued notifications go out for as long as the client reads them (at most
    /// a second).
    func shutdown() {
        pump.finish()
        primary.shutdown()
    }

    /// Ends the connection at once, for a server that stops: queued notifications are dropped.
    func stop() {
        pump.abort()
        primary.shutdown()
    }

    // MARK: NotificationSink

    /// A notification the system delivers after the connection failed (the driver's report of
    /// the fault) follows the epitaph: a client woken by it finds the epitaph already there.
    func deliver(_ message: [UInt8]) {
        if let error = connection?.error { sendEpitaph(error) }
        pump.enqueue(message)
    }

    func connectionClosed(_ error: MagmaError) {
        logger.info("connection closed: \(error)")
        sendEpitaph(error)
        shutdown()
    }

    /// Sends the epitaph, once.
    private func sendEpitaph(_ error: MagmaError) {
        guard !epitaphSent.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if let epitaph = try? PrimaryProtocol.Epitaph(error).encoded() {
            try? primary.send(epitaph.bytes, wait: false)
        }
    }

    // MARK: Serving

    private var connection: SystemConnection? { system.withLock { $0 } }

    /// How many requests one turn of a worker handles before the connection goes back to the
    /// end of the queue, so that one busy client does not hold a worker while others wait.
    static let requestsPerTurn = 16

    /// The primary channel is readable: handles what has arrived (at most `requestsPerTurn`
    /// requests), on a worker. Ends the connection at the end of the channel or when it fails.
    private func serveReadable(token: EventLoop.Token, reactor: ServerReactor) -> ServeStep {
        for _ in 0..<Self.requestsPerTurn {
            let datagram: Datagram?
            do { datagram = try primary.receive(capacity: ProtocolLimits.maxMessageBytes, wait: false) } catch {
                logger.debug("primary channel failed: \(error)")
                return end(token: token, reactor: reactor)
            }
            guard let datagram else { return .arm(.readable) }
            guard case .message(let bytes, let descriptors, let truncated) = datagram, let connection else {
                return end(token: token, reactor: reactor)
            }
            if truncated {
                connection.fail(.invalidArgs("a message or its descriptors exceeded the protocol's limits"))
                continue
            }
            handle(bytes, descriptors, on: connection)
        }
        return .arm(.readable)
    }

    /// Releases everything the connection holds and closes its channels, once.
    fileprivate func end(token: EventLoop.Token, reactor: ServerReactor) -> ServeStep {
        guard !ended.exchange(true, ordering: .acquiringAndReleasing) else { return .done }
        reactor.loop.unwatch(token)
        connection?.close()
        system.withLock { $0 = nil }
        shutdown()
        onEnd(self)
        return .done
    }

    private func handle(_ bytes: [UInt8], _ descriptors: [OwnedFileDescriptor], on connection: SystemConnection) {
        let received: Received<PrimaryProtocol.ClientMessage>
        do {
            received = try PrimaryProtocol.ClientMessage.decode(bytes: bytes, handles: descriptors.map { WireHandle($0.fileDescriptor) })
        } catch {
            logger.notice("malformed message: \(error)")
            connection.fail(MagmaError(error))
            return
        }
        let request = PrimaryRequest(message: received.message, descriptors: descriptors)
        let importedBytes = request.apply(to: connection)
        switch received.message {
        case .flush:
            if connection.error == nil { reply(PrimaryProtocol.FlushReply(), to: received.header, on: connection) }
        case .isPerformanceCounterAccessAllowed:
            let allowed = connection.isPerformanceCounterAccessAllowed
            reply(PrimaryProtocol.IsPerformanceCounterAccessAllowedReply(enabled: allowed), to: received.header, on: connection)
        case .importBuffer(let request):
            importBuffer(request, descriptors, header: received.header, on: connection)
        case .getMemoryBudget(let request):
            let reply: PrimaryProtocol.MemoryBudgetReply
            do {
                let budget = try connection.memoryBudget(heap: request.heap)
                reply = PrimaryProtocol.MemoryBudgetReply(status: .ok, budget: budget.budget, usage: budget.usage)
            } catch {
                guard connection.error == nil else { return }   // the epitaph answers
                reply = PrimaryProtocol.MemoryBudgetReply(status: error.status, budget: 0, usage: 0)
            }
            self.reply(reply, to: received.header, on: connection)
        case .enableFlowControl:
            flow.withLock { $0.enable() }
        default:
            let report = flow.withLock { $0.handled(importedBytes: importedBytes) }
            if let count = report.messages { send(PrimaryProtocol.OnNotifyMessagesConsumed(count: count), on: connection) }
            if let bytes = report.bytes { send(PrimaryProtocol.OnNotifyMemoryImported(bytes: bytes), on: connection) }
        }
    }

    /// ImportBuffer: answers a refused allocation with its status (the connection stays
    /// usable); a request that failed the connection (a descriptor that is not a size-sealed
    /// memfd, a used id) is answered by its epitaph.
    private func importBuffer(_ request: PrimaryProtocol.ImportBuffer, _ descriptors: [OwnedFileDescriptor], header: MessageHeader,
                              on connection: SystemConnection) {
        let memory: SharedMemory
        do { memory = try ArrivedDescriptors(descriptors: descriptors).memory(request.buffer) } catch {
            connection.fail(error)
            return
        }
        var answer = PrimaryProtocol.ImportBufferReply(status: .ok)
        do { try connection.importBuffer(id: request.bufferId, memory: memory, memoryType: request.memoryType) } catch {
            guard connection.error == nil else { return }
            answer = PrimaryProtocol.ImportBufferReply(status: error.status, reason: error.message)
        }
        reply(answer, to: header, on: connection)
    }

    private func reply(_ message: some WireMessage, to header: MessageHeader, on connection: SystemConnection) {
        send(message, transactionId: header.transactionId, on: connection)
    }

    /// Sends to the client without blocking: a client that leaves its primary channel full is
    /// not reading its replies and events, and loses the connection.
    private func send(_ message: some WireMessage, transactionId: UInt32 = 0, on connection: SystemConnection) {
        do {
            try primary.send(try message.encoded(transactionId: transactionId).bytes, wait: false)
        } catch {
            logger.notice("cannot send \(type(of: message).name): \(error)")
            connection.fail(.internalError("the client does not read its primary channel"))
        }
    }
}
