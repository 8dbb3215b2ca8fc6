import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaSystem

/// The in-process notification channel: a bounded queue of messages with a pollable eventfd
/// that is readable while messages are pending or after the connection closed, and a second
/// one, the connection's failure descriptor, readable once the connection has ended.
final class NotificationQueue: NotificationSink {
    /// Messages kept before new ones are dropped (a client that never reads must not grow the
    /// queue without bound).
    static let capacity = 65_536

    private struct State {
        var messages: [[UInt8]] = []
        var head = 0
        var closed: MagmaError?
        var dropped = 0
        var pending: Int { messages.count - head }
    }

    private let state = Locked(State())
    let readiness: EventSemaphore
    /// Signaled once the connection has failed or closed; never reset.
    let ended: EventSemaphore

    init() throws(PlatformError) {
        readiness = try EventSemaphore()
        ended = try EventSemaphore()
    }

    func deliver(_ message: [UInt8]) {
        state.withLock { state in
            guard state.pending < Self.capacity else {
                state.dropped += 1
                return
            }
            // Readable while messages are pending: only the first of a run signals (one
            // eventfd write, not one per message); `read` resets it when the last is taken.
            let wasEmpty = state.pending == 0
            state.messages.append(message)
            if wasEmpty { readiness.signal() }
        }
    }

    func connectionClosed(_ error: MagmaError) {
        state.withLock { state in
            if state.closed == nil { state.closed = error }
            readiness.signal()
        }
        ended.signal()
    }

    /// The epitaph, once the connection has closed.
    var closedError: MagmaError? { state.withLock { $0.closed } }

    /// Pops the oldest message; nil if none; CONNECTION_LOST after close once drained.
    func read() throws(MagmaError) -> [UInt8]? {
        let result: Result<[UInt8]?, MagmaError> = state.withLock { state in
            guard state.pending > 0 else {
                if state.closed != nil { return .failure(MagmaError(.connectionLost, "notification channel closed")) }
                return .success(nil)
            }
            let message = state.messages[state.head]
            state.head += 1
            if state.head > 1024, state.head * 2 > state.messages.count {
                state.messages.removeFirst(state.head)
                state.head = 0
            }
            if state.pending == 0, state.closed == nil { readiness.reset() }
            return .success(message)
        }
        return try result.get()
    }
}
