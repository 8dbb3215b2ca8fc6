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
/// engine that produces them never blocks. At most `capacity` wait; more are dropped and logged.
final class NotificationPump: Sendable {
    static let capacity = 65_536

    private struct State {
        var queue: [[UInt8]] = []
        /// The writer thread is sending a batch taken from the queue.
        var writing = false
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
    /// or when the channel breaks. Fails if no thread can be had.
    func start(group: ThreadGroup) throws(PlatformError) {
        try group.spawn(name: "magma-notify") { self.run() }
    }

    /// Sends or queues one notification.
    func enqueue(_ notification: [UInt8]) {
        let message: EncodedMessage
        do { message = try NotificationProtocol.Notification(data: notification).encoded() } catch {
            logger.error("driver notification of \(notification.count) bytes cannot be sent: \(error)")
            return
        }
        let queued = state.withLock { state in
            guard !state.finished else { return false }
            if state.queue.isEmpty, !state.writing {
                do throws(PlatformError) {
                    try socket.send(message.bytes, wait: false)
                    return false
                } catch {
                    guard channelIsFull(error) else {
                        state.finished = true
                        return true   // wake the writer so it closes the channel
                    }
                }
            }
            guard state.queue.count < Self.capacity else {
                state.dropped += 1
                return false
            }
            state.queue.append(message.bytes)
            return true
        }
        if queued { ready.signal() }
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
            while true {
                let (batch, finished, dropped) = state.withLock { state in
                    let batch = state.queue
                    state.queue.removeAll(keepingCapacity: true)
                    state.writing = !batch.isEmpty
                    defer { state.dropped = 0 }
                    return (batch, state.finished, state.dropped)
                }
                if dropped > 0 { logger.warning("client is not reading notifications: dropped \(dropped)") }
                if batch.isEmpty {
                    guard finished else { break }
                    socket.shutdown()
                    return
                }
                for bytes in batch {
                    do { try socket.send(bytes) } catch {
                        logger.debug("notification channel closed: \(error)")
                        state.withLock { $0.finished = true }
                        socket.shutdown()
                        return
                    }
                }
                state.withLock { $0.writing = false }
            }
        }
    }
}

/// Whether a send failed only because the channel is full.
private func channelIsFull(_ error: PlatformError) -> Bool { error.code == EAGAIN || error.code == EWOULDBLOCK }
