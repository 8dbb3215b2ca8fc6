import MagmaPlatform
import MagmaProtocol

/// A system driver (MSD): the GPU-specific half behind MagmaSystem.
///
/// MagmaSystem validates every request before it reaches a driver, so a driver sees only
/// well-formed ids, aligned in-range mappings and known objects. Calls for one connection are
/// serialized: MagmaSystem makes every one of them, submissions included, on the thread of the
/// request that caused it, under the connection's lock; it runs no threads of its own. So a
/// driver call must not block (on a semaphore, on the GPU): waiting for a submission's
/// semaphores is the driver's job, off the caller's thread. A driver must never call back into
/// MagmaSystem (`GpuWork.complete`, `MsdNotificationHandler`) synchronously from inside a call
/// MagmaSystem made to it: report from its own threads.
public protocol MsdDriver: Sendable {
    /// Creates the device this driver serves.
    func createDevice() throws(MagmaError) -> any MsdDevice
}

/// Whether a client may use privileged features: priorities above medium. (Performance
/// counters are not one of them: every connection needs the device's token.)
public enum ClientTrust: Sendable {
    case trusted
    case untrusted
}

/// One GPU managed by a driver.
public protocol MsdDevice: AnyObject, Sendable {
    /// Answers a query. Unknown ids throw INVALID_ARGS.
    func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer

    /// Opens a connection: a private GPU address space for one client.
    func openConnection(clientId: UInt64, notifications: any MsdNotificationHandler) throws(MagmaError) -> any MsdConnection

    /// The device's performance counters, or nil if it has none.
    var performanceCounters: (any MsdPerformanceCounters)? { get }
}

extension MsdDevice {
    /// No performance counters.
    public var performanceCounters: (any MsdPerformanceCounters)? { nil }
}

/// One client's address space and contexts, as the driver sees them.
public protocol MsdConnection: AnyObject, Sendable {
    /// Creates a context (a queue of work) sharing this connection's address space.
    func createContext(priority: Priority) throws(MagmaError) -> any MsdContext

    /// Adds `mapping` to the GPU page tables. MagmaSystem has checked alignment, range and
    /// overlap.
    func map(_ mapping: GpuMapping) throws(MagmaError)

    /// Removes `mapping` from the GPU page tables.
    func unmap(_ mapping: GpuMapping)

    /// Populates or depopulates the page-table entries of `mapping` that fall in the buffer
    /// byte range `offset ..< offset + length` (already checked against the buffer).
    func updatePageTables(_ op: BufferRangeOp, mapping: GpuMapping, offset: UInt64, length: UInt64) throws(MagmaError)

    /// The client is gone: drop everything. Work already running may finish; no notification
    /// is delivered afterwards.
    func release()
}

/// A queue of GPU work in a connection. Work on one context runs in submission order.
public protocol MsdContext: AnyObject, Sendable {
    /// Queues `work` behind the context's earlier work, with its wait and signal lists
    /// (`work.waitSemaphores`, `work.signalSemaphores`), and returns without waiting. The
    /// driver starts the work only once every wait semaphore has signaled, then consumes each
    /// of them once (`consumeAfterWait`: binary semantics, one-shot imports excepted), and
    /// work queued behind it on this context waits too. The semaphores' eventfds belong to
    /// clients: a driver must not block on them, nor rely on their O_NONBLOCK flag (poll them;
    /// `EventSemaphore` resets without blocking). The driver calls `work.complete` exactly
    /// once, from its own thread; MagmaSystem signals the signal semaphores there on success.
    func submit(_ work: GpuWork)

    /// The context is destroyed: work not yet started, including work still waiting for its
    /// semaphores, completes with CONTEXT_KILLED (from the driver's own thread).
    func destroy()
}

/// Driver-to-system reports for one connection.
public protocol MsdNotificationHandler: Sendable {
    /// Sends driver-defined bytes to the client's notification channel.
    func send(_ message: [UInt8])

    /// A context of this connection hit a fatal error (fault, hang). The connection is closed
    /// with CONTEXT_KILLED, and then `lastNotification` (the driver's report of the fault, if
    /// any) is delivered: a client woken by it already sees the connection's error.
    func contextKilled(_ reason: String, lastNotification: [UInt8]?)
}

extension MsdNotificationHandler {
    /// A fatal error with no notification of its own.
    public func contextKilled(_ reason: String) { contextKilled(reason, lastNotification: nil) }
}
