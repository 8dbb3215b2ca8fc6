import Magma
import MagmaCSupport
import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// What each C handle stands for.
enum Handles {
    static let devices = HandleTable<CDevice>()
    static let connections = HandleTable<CConnection>()
    static let buffers = HandleTable<Buffer>()
    static let semaphores = HandleTable<Semaphore>()
}

final class CDevice: Sendable {
    let device: Device
    init(_ device: Device) { self.device = device }
}

/// A connection with what the C API keeps beside it: its contexts and performance-counter
/// pools by id (the C API names them by id, not by handle) and a notification read ahead.
/// Its buffers and semaphores are in `Handles`; their owner is recorded once, by `Magma`.
final class CConnection: Sendable {
    private struct State {
        var contexts: [UInt32: Context] = [:]
        var readAhead: [UInt8]?
        var pools: [UInt64: PerformanceCounterPool] = [:]
    }

    let connection: Connection
    private let state = Locked(State())

    init(_ connection: Connection) { self.connection = connection }

    func add(pool: PerformanceCounterPool) { state.withLock { $0.pools[pool.id] = pool } }
    func pool(_ id: UInt64) throws(MagmaError) -> PerformanceCounterPool {
        guard let pool = state.withLock({ $0.pools[id] }) else { throw .invalidArgs("unknown performance-counter pool \(id)") }
        return pool
    }
    func removePool(_ id: UInt64) -> PerformanceCounterPool? { state.withLock { $0.pools.removeValue(forKey: id) } }
    /// The pool whose notification handle is `descriptor`.
    func pool(descriptor: FileDescriptor) -> PerformanceCounterPool? {
        state.withLock { $0.pools.values.first { $0.eventDescriptor == descriptor } }
    }

    func add(context: Context) { state.withLock { $0.contexts[context.id] = context } }
    func context(_ id: UInt32) throws(MagmaError) -> Context {
        guard let context = state.withLock({ $0.contexts[id] }) else { throw .invalidArgs("unknown context \(id)") }
        return context
    }
    func removeContext(_ id: UInt32) -> Context? { state.withLock { $0.contexts.removeValue(forKey: id) } }

    /// The next notification: one read ahead earlier, else a new one (which throws once the
    /// connection is closed, even with one read ahead).
    func nextNotification() throws(MagmaError) -> [UInt8]? {
        let kept = state.withLock { state in defer { state.readAhead = nil }; return state.readAhead }
        guard let kept, !connection.isClosed else { return try connection.readNotification() }
        return kept
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
