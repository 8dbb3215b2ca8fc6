import MagmaPlatform
import MagmaProtocol

/// Something `poll` can wait on.
public enum PollItem: Sendable {
    /// Ready while the semaphore is signaled. Polling never resets it.
    case semaphore(Semaphore)
    /// Ready while the connection has a notification pending.
    case notifications(Connection)
    /// Ready while the descriptor is readable.
    case descriptor(Int32)
}

/// Waits on several semaphores and notification channels at once.
public enum Poll {
    /// Waits until at least one item is ready, or `timeoutNanoseconds` passes (`UInt64.max`
    /// waits forever). Returns, per item, whether it is ready. Throws TIMED_OUT when nothing
    /// became ready, and CONNECTION_LOST when a polled connection has closed (its remaining
    /// notifications can still be read).
    @discardableResult
    public static func wait(_ items: [PollItem], timeoutNanoseconds: UInt64) throws(MagmaError) -> [Bool] {
        guard !items.isEmpty else { throw .invalidArgs("nothing to poll") }
        let requests = items.map { item in
            switch item {
            case .semaphore(let semaphore): PollRequest(descriptor: semaphore.pollDescriptor)
            case .notifications(let connection): PollRequest(descriptor: connection.notificationDescriptor)
            case .descriptor(let descriptor): PollRequest(descriptor: descriptor)
            }
        }
        let ready: [Bool]
        do { ready = try Poller.poll(requests, timeoutNanoseconds: timeoutNanoseconds) } catch { throw .internalError("\(error)") }
        for case .notifications(let connection) in items {
            if let error = connection.error { throw MagmaError(.connectionLost, "connection closed: \(error)") }
        }
        guard ready.contains(true) else { throw MagmaError(.timedOut, "nothing became ready") }
        return ready
    }
}
