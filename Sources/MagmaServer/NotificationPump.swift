import Glibc
import Logging
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaWire

/// Carries a connection's notifications to its notification channel, in order.
///
/// A notification is written at once when the channel has room, so it is in the client's
/// socket before the driver signals the work's semaphores (as with the embedded device: a
/// client woken by a semaphore finds the notification). When the client reads slowly and the
/// channel is full, notifications wait in a queue, and the server's event loop watches the
/// channel for room; a worker then writes what fits. No thread waits for a slow client and the
/// GPU engine that produces notifications never blocks. The queue is bounded (`ServerLimits`'
/// `maxQueuedNotifications`, and the device's flow-control byte limit, 100 MB): a client past
/// it is not reading its notifications, and the overflow handler closes its connection. No
/// send ever blocks, so `finish()` and `abort()` take effect at once, whatever the client does.
final class NotificationPump: Sendable {
    /// How long a finishing pump goes on delivering what is queued to a client that reads.
    static let finishGraceNanoseconds: UInt64 = 1_000_000_000

    private struct State {
        var queue: [[UInt8]] = []
        var head = 0
        var queuedBytes = 0
        /// Set by `finish()`: nothing more is accepted, and what is queued is sent until then.
        var finishing = false
        /// The channel is closed (or closing): nothing more is sent.
        var closed = false
        var overflowHandler: (@Sendable (String) -> Void)?
        var token: EventLoop.Token?
        var queuedCount: Int { queue.count - head }
    }

    private let socket: MessageSocket
    private let maxQueued: Int
    private let maxQueuedBytes: Int
    private let state = Locked(State())
    private let reactor: ServerReactor
    private let logger: Logger

    /// A pump for `socket` that queues at most `maxQueued` notifications and
    /// `limits.maxInflightMegabytes` of them, waiting for room on `reactor`'s loop. Fails when
    /// the loop cannot watch the socket (it is not a socket, or the kernel is out of memory).
    init(socket: MessageSocket, maxQueued: Int, limits: FlowControlLimits, reactor: ServerReactor, logger: Logger) throws(PlatformError) {
        self.socket = socket
        self.maxQueued = max(1, maxQueued)
        self.reactor = reactor
        self.logger = logger
        maxQueuedBytes = Int(max(1, limits.maxInflightMegabytes)) << 20
        // Watched with no interest until a send finds the channel full; a hang-up is reported
        // regardless, and closes the channel.
        let token = try reactor.serve(socket.descriptor.fileDescriptor, for: []) { [weak self] _, readiness in
            guard let self else { return .done }
            return self.channelReady(readiness)
        }
        let closedAlready = state.withLock { state in
            state.token = token
            return state.closed
        }
        if closedAlready { reactor.loop.unwatch(token) }   // it hung up before its token was known
    }

    /// Sets what runs (on a worker, holding no lock) when the client lets the queue pass its
    /// bounds; it receives the reason.
    func onOverflow(_ handler: @escaping @Sendable (String) -> Void) {
        state.withLock { $0.overflowHandler = handler }
    }

    /// Sends or queues one notification.
    func enqueue(_ notification: [UInt8]) {
        let message: EncodedMessage
        do { message = try NotificationProtocol.Notification(data: notification).encoded() } catch {
            logger.error("driver notification of \(notification.count) bytes cannot be sent: \(error)")
            return
        }
        let overflow = state.withLock { state -> (@Sendable (String) -> Void, String)? in
            guard !state.finishing, !state.closed else { return nil }
            if state.queuedCount == 0 {
                do throws(PlatformError) {
                    try socket.send(message.bytes, wait: false)
                    return nil
                } catch {
                    guard channelIsFull(error) else {
                        close(&state)
                        return nil
                    }
                    if let token = state.token { reactor.loop.arm(token, for: .writable) }
                }
            }
            guard state.queuedCount < maxQueued, state.queuedBytes + message.bytes.count <= maxQueuedBytes else {
                let reason = "the client does not read its notifications (\(state.queuedCount) queued, \(state.queuedBytes) bytes)"
                logger.warning("\(reason); closing the connection")
                let handler = state.overflowHandler
                close(&state)
                return handler.map { ($0, reason) }
            }
            state.queue.append(message.bytes)
            state.queuedBytes += message.bytes.count
            return nil
        }
        if let (handler, reason) = overflow { reactor.soon { handler(reason) } }
    }

    /// No more notifications: what is queued is sent for as long as the client reads it, but
    /// at most `finishGraceNanoseconds`; then the channel closes.
    func finish() {
        let pending = state.withLock { state -> Bool in
            guard !state.closed, !state.finishing else { return false }
            state.finishing = true
            if state.queuedCount == 0 { close(&state) }
            return !state.closed
        }
        guard pending else { return }
        reactor.loop.after(nanoseconds: Self.finishGraceNanoseconds) { [self] in
            state.withLock { state in
                guard !state.closed else { return }
                logger.notice("client did not read its last notifications; closing the channel")
                close(&state)
            }
        }
    }

    /// Stops now: what is queued is dropped and the channel closes.
    func abort() { state.withLock { close(&$0) } }

    /// Notifications queued now, for tests.
    var queuedCount: Int { state.withLock { $0.queuedCount } }

    /// The channel has room (or hung up): writes what fits, on a worker.
    private func channelReady(_ readiness: EventLoop.Readiness) -> ServeStep {
        state.withLock { state in
            guard !state.closed else { return .done }
            while state.queuedCount > 0 {
                let bytes = state.queue[state.head]
                do throws(PlatformError) {
                    try socket.send(bytes, wait: false)
                } catch where channelIsFull(error) {
                    return .arm(.writable)
                } catch {
                    logger.debug("notification channel closed: \(error)")
                    close(&state)
                    return .done
                }
                state.queue[state.head] = []
                state.head += 1
                state.queuedBytes -= bytes.count
                if state.head >= 64, state.head * 2 >= state.queue.count {
                    state.queue.removeFirst(state.head)
                    state.head = 0
                }
            }
            state.queue = []
            state.head = 0
            if state.finishing || readiness.isHungUp {
                close(&state)
                return .done
            }
            return .arm([])
        }
    }

    /// Closes the channel once: the loop stops watching it and the queue is dropped.
    private func close(_ state: inout State) {
        guard !state.closed else { return }
        state.closed = true
        state.queue = []
        state.head = 0
        state.queuedBytes = 0
        if let token = state.token { reactor.loop.unwatch(token) }
        socket.shutdown()
    }
}

/// Whether a send failed only because the channel is full.
private func channelIsFull(_ error: PlatformError) -> Bool { error.code == EAGAIN || error.code == EWOULDBLOCK }
