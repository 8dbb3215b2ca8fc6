import Magma
import MagmaPlatform
import MagmaProtocol

/// What each C handle stands for.
enum Handles {
    static let devices = HandleTable<CDevice>()
    static let connections = HandleTable<CConnection>()
    static let buffers = HandleTable<CBuffer>()
    static let semaphores = HandleTable<CSemaphore>()
}

final class CDevice: Sendable {
    let device: Device
    init(_ device: Device) { self.device = device }
}

/// A buffer or semaphore handed out by the C API, with the connection that owns it.
final class ConnectionObject<Object: Sendable>: Sendable {
    let object: Object
    let connection: UInt64
    init(_ object: Object, connection: UInt64) {
        self.object = object
        self.connection = connection
    }
}

typealias CBuffer = ConnectionObject<Buffer>
typealias CSemaphore = ConnectionObject<Semaphore>

/// A connection with what the C API keeps beside it: its contexts by id, the handles of its
/// buffers and semaphores, a notification read ahead, and the error of a misuse that closed it.
final class CConnection: Sendable {
    private struct State {
        var misuse: MagmaError?
        var contexts: [UInt32: Context] = [:]
        var buffers: Set<UInt64> = []
        var semaphores: Set<UInt64> = []
        var readAhead: [UInt8]?
        var pools: [UInt64: PerformanceCounterPool] = [:]
    }

    let connection: Connection
    private let state = Locked(State())

    init(_ connection: Connection) { self.connection = connection }

    /// The connection's error: a misuse the C layer saw, or the system's.
    var error: MagmaError? { state.withLock { $0.misuse } ?? connection.error }

    /// Throws the connection's error, if any.
    func checkOpen() throws(MagmaError) {
        if let error { throw error }
    }

    /// Closes the connection with `error`, as the system closes one for a bad request.
    func fail(_ error: MagmaError) {
        let first = state.withLock { state in
            defer { if state.misuse == nil { state.misuse = error } }
            return state.misuse == nil
        }
        if first { connection.release() }
    }

    func add(pool: PerformanceCounterPool) { state.withLock { $0.pools[pool.id] = pool } }
    func pool(_ id: UInt64) throws(MagmaError) -> PerformanceCounterPool {
        guard let pool = state.withLock({ $0.pools[id] }) else { throw .invalidArgs("unknown performance-counter pool \(id)") }
        return pool
    }
    func removePool(_ id: UInt64) -> PerformanceCounterPool? { state.withLock { $0.pools.removeValue(forKey: id) } }
    /// The pool whose notification handle is `descriptor`.
    func pool(descriptor: Int32) -> PerformanceCounterPool? {
        state.withLock { $0.pools.values.first { $0.eventDescriptor == descriptor } }
    }

    func add(context: Context) { state.withLock { $0.contexts[context.id] = context } }
    func context(_ id: UInt32) -> Context? { state.withLock { $0.contexts[id] } }
    func removeContext(_ id: UInt32) -> Context? { state.withLock { $0.contexts.removeValue(forKey: id) } }

    func register(buffer handle: UInt64) { state.withLock { _ = $0.buffers.insert(handle) } }
    func register(semaphore handle: UInt64) { state.withLock { _ = $0.semaphores.insert(handle) } }
    /// Forgets a buffer or semaphore handle (handles are unique across kinds).
    func unregister(_ handle: UInt64) {
        state.withLock { state in
            state.buffers.remove(handle)
            state.semaphores.remove(handle)
        }
    }

    /// The handles of every buffer and semaphore, taken out at release.
    func takeObjectHandles() -> (buffers: Set<UInt64>, semaphores: Set<UInt64>) {
        state.withLock { state in
            defer { state.buffers = []; state.semaphores = [] }
            return (state.buffers, state.semaphores)
        }
    }

    /// The next notification: one read ahead earlier, else a new one. CONNECTION_LOST once
    /// a misuse closed the connection.
    func nextNotification() throws(MagmaError) -> [UInt8]? {
        if let misuse = state.withLock({ $0.misuse }) { throw MagmaError(.connectionLost, "connection closed: \(misuse)") }
        if let kept = state.withLock({ state in defer { state.readAhead = nil }; return state.readAhead }) { return kept }
        return try connection.readNotification()
    }

    /// Keeps a notification for the next read.
    func keep(_ notification: [UInt8]) { state.withLock { $0.readAhead = notification } }

    /// Whether a notification is waiting, reading one ahead if needed.
    func hasMoreNotifications() -> Bool {
        if state.withLock({ $0.readAhead != nil }) { return true }
        guard let next = try? connection.readNotification() else { return false }
        keep(next)
        return true
    }
}
