/// A driver's buffer: what it made of memory a client imported (`MsdDevice.importBuffer`).
/// MagmaSystem hands it back in mappings, submissions' resources and pool ranges, and never
/// looks inside.
public protocol MsdBuffer: AnyObject, Sendable {
    /// MagmaSystem holds the buffer no more: its last import was released (after its mappings
    /// were removed) or its connection closed (Fuchsia's `msd_buffer_release`). Called exactly
    /// once, under the connection's lock. Work or pools the driver still holds may go on using
    /// the buffer; the driver keeps it alive for them.
    func release()
}

/// A driver's semaphore: what it made of an event a client imported
/// (`MsdDevice.importSemaphore`). MagmaSystem hands it back in submissions' wait and signal
/// lists and with inline commands, and never signals, resets or waits on it.
public protocol MsdSemaphore: AnyObject, Sendable {
    /// MagmaSystem holds the semaphore no more: the client released it or its connection
    /// closed (Fuchsia's `msd_semaphore_release`). Called exactly once, under the connection's
    /// lock. Work the driver still holds may go on waiting on it or signal it.
    func release()
}

/// A driver's performance-counter pool (`MsdConnection.createPerformanceCounterPool`): the
/// ranges that dumps are written into. MagmaSystem keeps the pool's event channel and passes
/// the pool back to the connection that made it.
public protocol MsdPerformanceCounterPool: AnyObject, Sendable {}
