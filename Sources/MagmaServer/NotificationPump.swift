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
/// channel is full, notifications wait in a queue that a writer thread drains, so the GPU
/// engine that produces them never blocks. The queue is bounded (`ServerLimits`'
/// `maxQueuedNotifications`, and the device's flow-control byte limit, 100 MB): a client past
/// it is not reading its notifications, and the overflow handler closes its connection. No send ever blocks the writer, so `finish()`
/// and `abort()` take effect at once, whatever the client does.
final class NotificationPump: Sendable {
    /// How long a finishing pump goes on delivering what is queued to a client that reads.
    static let finishGraceNanoseconds: UInt64 = 1_000_000_000

    private struct State {
        var queue: [[UInt8]] = []
        var queuedBytes = 0
        /// Set by `finish()`: nothing more is accepted, and what is queued is sent until then.
        var finishDeadline: UInt64?
        /// Set by `abort()`, a broken channel or an overflow: the writer stops now.
        var aborted = false
        /// The queue passed its bounds; the writer reports it once.
        var overflowed = false
        var overflowHandler: (@Sendable (String) -> Void)?
    }

    private enum Step {
        case send([UInt8], deadline: UInt64?)
        case idle
        case stop(overflow: (@Sendable (String) -> Void)?, reason: String)
    }

    private let socket: MessageSocket
    private let maxQueued: Int
    private let maxQueuedBytes: Int
    private let state = Locked(State())
    private let ready: EventSemaphore
    private let logger: Logger

    /// A pump for `socket` that queues at most `maxQueued` notifications and
    /// `limits.maxInflightMegabytes` of them.
    init(socket: MessageSocket, maxQueued: Int, limits: FlowControlLimits, logger: Logger) throws(PlatformError) {
        self.socket = socket
        self.maxQueued = max(1, maxQueued)
        self.logger = logger
        maxQueuedBytes = Int(max(1, limits.maxInflightMegabytes)) << 20
        ready = try EventSemaphore()
    }

    /// Starts the writer thread; it ends once `finish()` was called and the queue is empty or
    /// its grace has passed, at `abort()`, when the channel breaks or the queue overflows.
    /// Fails if no thread can be had.
    func start(group: ThreadGroup) throws(PlatformError) {
        try group.spawn(name: "magma-notify") { self.run() }
    }

    /// Sets what runs (on the writer thread, holding no lock) when the client lets the queue
    /// pass its bounds; it receives the reason.
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
        let wake = state.withLock { state in
            guard state.finishDeadline == nil, !state.aborted else { return false }
            if state.queue.isEmpty {
                do throws(PlatformError) {
                    try socket.send(message.bytes, wait: false)
                    return false
                } catch {
                    guard channelIsFull(error) else {
                        state.aborted = true
                        return true   // wake the writer so it closes the channel
                    }
                }
            }
            guard state.queue.count < maxQueued, state.queuedBytes + message.bytes.count <= maxQueuedBytes else {
                state.overflowed = true
                state.aborted = true
                return true
            }
            state.queue.append(message.bytes)
            state.queuedBytes += message.bytes.count
            return true
        }
        if wake { ready.signal() }
    }

    /// No more notifications: the writer sends what is queued, for as long as the client
    /// reads them but at most `finishGraceNanoseconds`, then closes the channel.
    func finish() {
        state.withLock { state in
            if state.finishDeadline == nil { state.finishDeadline = Clock.monotonicNanoseconds() + Self.finishGraceNanoseconds }
        }
        ready.signal()
    }

    /// Stops now: what is queued is dropped and the channel closes.
    func abort() {
        state.withLock { $0.aborted = true }
        ready.signal()
    }

    private func run() {
        defer { socket.shutdown() }
        while true {
            switch nextStep() {
            case .stop(let overflow, let reason):
                overflow?(reason)
                return
            case .idle:
                _ = ready.wait(timeoutNanoseconds: Poller.forever)
                ready.reset()
            case .send(let bytes, let deadline):
                do throws(PlatformError) {
                    try socket.send(bytes, wait: false)
                    state.withLock { state in
                        state.queue.removeFirst()
                        state.queuedBytes -= bytes.count
                    }
                } catch where channelIsFull(error) {
                    let now = Clock.monotonicNanoseconds()
                    if let deadline, now >= deadline {
                        logger.notice("client did not read its last notifications; closing the channel")
                        return
                    }
                    let wait = deadline.map { $0 - now } ?? Poller.forever
                    _ = try? Poller.poll([PollRequest(descriptor: socket.descriptor.rawValue, events: Int16(POLLOUT)),
                                          PollRequest(descriptor: ready.descriptor.rawValue)], timeoutNanoseconds: wait)
                    ready.reset()
                } catch {
                    logger.debug("notification channel closed: \(error)")
                    return
                }
            }
        }
    }

    private func nextStep() -> Step {
        state.withLock { state in
            if state.aborted {
                guard state.overflowed else { return .stop(overflow: nil, reason: "") }
                let reason = "the client does not read its notifications (\(state.queue.count) queued, \(state.queuedBytes) bytes)"
                logger.warning("\(reason); closing the connection")
                return .stop(overflow: state.overflowHandler, reason: reason)
            }
            if let head = state.queue.first { return .send(head, deadline: state.finishDeadline) }
            return state.finishDeadline == nil ? .idle : .stop(overflow: nil, reason: "")
        }
    }
}

/// Whether a send failed only because the channel is full.
private func channelIsFull(_ error: PlatformError) -> Bool { error.code == EAGAIN || error.code == EWOULDBLOCK }
