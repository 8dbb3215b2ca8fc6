import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// Something `poll` can wait on.
public enum PollItem: Sendable {
    /// Ready while the semaphore is signaled. Polling never resets it.
    case semaphore(Semaphore)
    /// Ready while the connection has a notification pending.
    case notifications(Connection)
    /// Ready while the pool has a completion waiting.
    case performanceCounterPool(PerformanceCounterPool)
    /// Ready while the descriptor is readable. Borrowed: its owner keeps it open during the wait.
    case descriptor(FileDescriptor)

    var descriptor: FileDescriptor {
        switch self {
        case .semaphore(let semaphore): semaphore.pollDescriptor
        case .notifications(let connection): connection.notificationDescriptor
        case .performanceCounterPool(let pool): pool.eventDescriptor
        case .descriptor(let descriptor): descriptor
        }
    }

    /// A notification channel or a pool's event channel.
    var isChannel: Bool {
        switch self {
        case .notifications, .performanceCounterPool: true
        case .semaphore, .descriptor: false
        }
    }

    /// The connection whose failure ends a wait on this item.
    var connection: Connection? {
        switch self {
        case .semaphore(let semaphore): semaphore.connection
        case .notifications(let connection): connection
        case .performanceCounterPool(let pool): pool.connection
        case .descriptor: nil
        }
    }
}

/// Waits on several semaphores, notification channels and performance-counter pools at once.
///
/// A failed connection ends every wait that involves one of its objects, at once, with its
/// error (as `vkWaitForFences` returns VK_ERROR_DEVICE_LOST): work that fails never signals its
/// semaphores, so a waiter learns of the failure this way instead of at its timeout.
public enum Poll {
    /// Waits until at least one item is ready, or `timeoutNanoseconds` passes (`UInt64.max`
    /// waits forever). Returns, per item, whether it is ready.
    ///
    /// Throws, checked in this order:
    /// - CONNECTION_LOST when the notification channel of a connection that has failed or
    ///   closed is among the items (the cause is in the message; the remaining notifications
    ///   can still be read);
    /// - the connection's own error (CONTEXT_KILLED for a GPU fault, an illegal command, a
    ///   watchdog kill or work abandoned with its context; CONNECTION_LOST when the server is
    ///   gone; BAD_STATE once released; ...) when a semaphore or pool of that connection is
    ///   among the items, even if the item is ready;
    /// - TIMED_OUT when nothing became ready.
    @discardableResult
    public static func wait(_ items: [PollItem], timeoutNanoseconds: UInt64) throws(MagmaError) -> [Bool] {
        guard !items.isEmpty else { throw .invalidArgs("nothing to poll") }
        let watched = WatchedConnections(items)
        // One array, made once: the items' descriptors, then each connection's failure descriptor.
        var requests: [PollRequest] = []
        requests.reserveCapacity(items.count + watched.connections.count)
        for item in items { requests.append(PollRequest(descriptor: item.descriptor)) }
        for watch in watched.connections { requests.append(PollRequest(descriptor: watch.connection.failureDescriptor)) }
        let deadline = Deadline(after: timeoutNanoseconds)
        while true {
            var ready: [Bool]
            do { ready = try Poller.poll(requests, timeoutNanoseconds: deadline.remainingNanoseconds) } catch {
                throw .internalError("\(error)")
            }
            // Besides a failure descriptor, a ready channel (not a semaphore) is checked too: its
            // end may be how the failure shows first.
            if ready[items.count...].contains(true) || items.indices.contains(where: { ready[$0] && items[$0].isChannel }) {
                try watched.check()
            }
            ready.removeLast(ready.count - items.count)   // the items' answers, in the same storage
            if ready.contains(true) { return ready }
            // Only a failure descriptor woke the wait, and its connection is healthy (an event
            // on a primary channel): wait again for the time left. Before timing out, look at
            // the errors once more: a connection's error is visible a moment before its failure
            // descriptor is signaled, and a wait that ends then must report it, not TIMED_OUT.
            if deadline.hasPassed {
                try watched.check()
                throw MagmaError(.timedOut, "nothing became ready")
            }
        }
    }
}

/// The connections a wait involves, each once, with how the wait involves it: those whose
/// notification channel is polled first, then those only whose semaphores or pools are.
private struct WatchedConnections {
    /// Each connection once, and whether its notification channel is polled.
    private(set) var connections: [(connection: Connection, notified: Bool)] = []

    init(_ items: [PollItem]) {
        connections.reserveCapacity(items.count)
        for case .notifications(let connection) in items where !connections.contains(where: { $0.connection === connection }) {
            connections.append((connection, true))
        }
        for item in items {
            guard let connection = item.connection, !connections.contains(where: { $0.connection === connection }) else { continue }
            connections.append((connection, false))
        }
    }

    /// Throws for the first failed connection, notification channels first.
    func check() throws(MagmaError) {
        for (connection, notified) in connections {
            if notified {
                guard let error = connection.errorAfterWake ?? connection.backend.notificationChannelError else { continue }
                throw error.status == .connectionLost ? error : MagmaError(.connectionLost, "connection closed: \(error)")
            }
            if let error = connection.errorAfterWake { throw error }
        }
    }
}
