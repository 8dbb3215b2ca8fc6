import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// A pool of buffer ranges that performance-counter dumps are written into, one range per dump,
/// oldest first. Each dump writes one little-endian u64 per enabled counter, in counter order,
/// and then reports a `PerformanceCounterCompletion`.
public final class PerformanceCounterPool: Sendable {
    /// The backend's pool.
    let backend: any BackendPerformanceCounterPool
    let ownership: Ownership
    /// The connection that created it, while that connection exists: a wait on the pool ends
    /// with the connection's error once it fails.
    weak let connection: Connection?

    init(backend: any BackendPerformanceCounterPool, connection: Connection) {
        self.backend = backend
        self.connection = connection
        ownership = Ownership(owner: connection.key, kind: "performance-counter pool", id: backend.id)
    }

    /// The pool's id in its connection.
    public var id: UInt64 { backend.id }

    /// Polls readable while a completion is waiting. Owned by the pool (borrowed here: valid
    /// while it lives).
    public var eventDescriptor: FileDescriptor { backend.eventDescriptor }

    /// The next completed dump, or nil if none is waiting.
    public func nextCompletion() throws(MagmaError) -> PerformanceCounterCompletion? { try backend.nextCompletion() }
}

/// Performance counters. A connection needs access first, embedded or not: it presents the
/// device's token (`Device.performanceCounterToken()`, then `enablePerformanceCounterAccess`).
/// Requests are feed-forward like every other: a call without access, or on a device without
/// counters, returns at once and closes the connection with ACCESS_DENIED or UNIMPLEMENTED,
/// which `flush()` and every later call report.
extension Connection {
    /// Presents a token from the device's performance-counter endpoint
    /// (`Device.performanceCounterToken()`). A token of another device is ignored; check with
    /// `isPerformanceCounterAccessAllowed()`.
    public func enablePerformanceCounterAccess(token: OwnedFileDescriptor) throws(MagmaError) {
        try checkOpen()
        try backend.enablePerformanceCounterAccess(token: token)
    }

    /// Whether performance-counter access has been granted: Fuchsia's synchronous query (a
    /// round trip through magmad). No other counter call waits for the system.
    public func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool {
        try checkOpen()
        return try backend.isPerformanceCounterAccessAllowed()
    }

    /// Selects the counters dumps write: a bit set, word `w` bit `b` selecting counter `64w + b`
    /// (the driver defines the counters; SoftGPU's are `SoftGPUCounter`).
    public func enablePerformanceCounters(_ counters: [UInt64]) throws(MagmaError) {
        try checkOpen()
        try backend.enablePerformanceCounters(counters)
    }

    /// Sets the selected counters to zero (device-wide).
    public func clearPerformanceCounters(_ counters: [UInt64]) throws(MagmaError) {
        try checkOpen()
        try backend.clearPerformanceCounters(counters)
    }

    /// Creates an empty pool.
    public func createPerformanceCounterPool() throws(MagmaError) -> PerformanceCounterPool {
        try checkOpen()
        return PerformanceCounterPool(backend: try backend.createPerformanceCounterPool(), connection: self)
    }

    /// Releases a pool; no completions follow.
    public func release(_ pool: PerformanceCounterPool) throws(MagmaError) {
        try checkOpen()
        try pool.ownership.release(key)
        try backend.release(pool.backend)
    }

    /// Adds buffer ranges (by buffer id) to a pool. The pool keeps their memory even after the
    /// buffers are released.
    public func addPerformanceCounterRanges(_ ranges: [BufferRange], to pool: PerformanceCounterPool) throws(MagmaError) {
        try checkOpen()
        try pool.ownership.check(key)
        try backend.addPerformanceCounterRanges(ranges, to: pool.backend)
    }

    /// Removes every range of `buffer` from a pool. Both must be this connection's.
    public func removePerformanceCounterBuffer(_ buffer: Buffer, from pool: PerformanceCounterPool) throws(MagmaError) {
        try checkOpen()
        try pool.ownership.check(key)
        try buffer.ownership.check(key)
        try backend.removePerformanceCounterBuffer(buffer.backend, from: pool.backend)
    }

    /// Dumps the enabled counters into the pool's next range; its completion carries
    /// `triggerId`. Does nothing if the pool has no range.
    public func dumpPerformanceCounters(into pool: PerformanceCounterPool, triggerId: UInt32) throws(MagmaError) {
        try checkOpen()
        try pool.ownership.check(key)
        try backend.dumpPerformanceCounters(into: pool.backend, triggerId: triggerId)
    }
}
