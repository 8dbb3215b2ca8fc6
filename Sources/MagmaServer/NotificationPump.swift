import Logging
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaWire

/// Carries a connection's notifications to its notification channel on a thread of its own, so
/// a client that reads slowly never stalls the GPU engine that produces them. At most
/// `capacity` notifications wait; more are dropped and counted.
final class NotificationPump: Sendable {
    static let capacity = 65_536

    private struct State {
        var queue: [[UInt8]] = []
        var head = 0
        var finished = false
        var dropped = 0
    }

    private let socket: MessageSocket
    private let state = Locked(State())
    private let ready: EventSemaphore
    private let logger: Logger

    init(socket: MessageSocket, logger: Logger) throws(PlatformError) {
        self.socket = socket
        self.logger = logger
        ready = try EventSemaphore()
    }

    /// Starts the writer thread; it ends once `finish()` was called and the queue is empty,
    /// or when the client stops reading for good (its end closed).
    func start(group: ThreadGroup) {
        group.spawn(name: "magma-notify") { self.run() }
    }

    /// Queues one notification.
    func enqueue(_ notification: [UInt8]) {
        state.withLock { state in
            guard !state.finished else { return }
            guard state.queue.count - state.head < Self.capacity else {
                state.dropped += 1
                return
            }
            state.queue.append(notification)
        }
        ready.signal()
    }

    /// No more notifications: the writer sends what is queued, then closes the channel.
    func finish() {
        state.withLock { $0.finished = true }
        ready.signal()
    }

    private func run() {
        while true {
            _ = ready.wait(timeoutNanoseconds: Poller.forever)
            ready.reset()
            let (batch, finished, dropped) = state.withLock { state in
                let batch = Array(state.queue[state.head...])
                state.queue.removeAll(keepingCapacity: true)
                state.head = 0
                let dropped = state.dropped
                state.dropped = 0
                return (batch, state.finished, dropped)
            }
            if dropped > 0 { logger.warning("client is not reading notifications: dropped \(dropped)") }
            for data in batch {
                let message: EncodedMessage
                do { message = try NotificationProtocol.Notification(data: data).encoded() } catch {
                    logger.error("driver notification of \(data.count) bytes cannot be sent: \(error)")
                    continue
                }
                do {
                    try socket.send(message.bytes)
                } catch {
                    logger.debug("notification channel closed: \(error)")
                    finish()
                    socket.shutdown()
                    return
                }
            }
            if finished {
                socket.shutdown()
                return
            }
        }
    }
}
