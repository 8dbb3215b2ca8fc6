import MagmaPlatform
import MagmaProtocol

/// A system driver (MSD): the GPU-specific half behind MagmaSystem, shaped after Fuchsia's
/// `msd.h`.
///
/// MagmaSystem validates every request before it reaches a driver, so a driver sees only
/// well-formed ids, aligned in-range mappings and objects it made itself. The driver owns its
/// objects: a buffer or semaphore a client imports becomes the driver's `MsdBuffer` or
/// `MsdSemaphore` (`MsdDevice.importBuffer`, `importSemaphore`), and MagmaSystem hands those
/// objects back in mappings, submissions and pools. MagmaSystem calls `release()` on each of
/// them exactly once, when its last import is released or the connection closes; work the
/// driver still holds may keep using the object after that.
///
/// Concurrency: every call MagmaSystem makes on behalf of one connection (imports and releases
/// of its objects on the device, calls on the connection, its contexts and pools, and
/// `release()` of its objects) runs under that connection's lock, so calls for one connection
/// never overlap. A call runs on the thread of what caused it: a client request, or a driver
/// report (`MsdNotificationHandler.contextKilled`, or work completing with an error) that
/// closes the connection, so a driver holds none of its own locks while it reports.
/// MagmaSystem runs no threads of its own. Calls for different connections may run
/// at the same time, so device-level state needs the driver's own lock. A driver call must not
/// block (on a semaphore, on the GPU): waiting for a submission's semaphores is the driver's
/// job, off the caller's thread. A driver must never call back into MagmaSystem
/// (`GpuWork.complete`, `MsdNotificationHandler`) synchronously from inside a call MagmaSystem
/// made to it: report from its own threads.
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

    /// What the device is and offers: identity, limits, memory types and heaps (each heap's
    /// size is the budget MagmaSystem holds allocations to, device-wide) and queue families
    /// (`createContext` gets an index into them). Constant for the device's life.
    var info: PhysicalDeviceInfo { get }

    /// Opens a connection: a private GPU address space for one client.
    func openConnection(clientId: UInt64, notifications: any MsdNotificationHandler) throws(MagmaError) -> any MsdConnection

    /// Makes the driver's buffer for memory a client imported under `id` (`memory.size`
    /// bytes, page aligned; Fuchsia's `msd_driver_import_buffer`).
    /// MagmaSystem has checked the id and the connection's limits. A second import of the same
    /// memory under the same id reuses the first buffer. Throwing fails the connection with
    /// that error.
    func importBuffer(memory: SharedMemory, id: ObjectId) throws(MagmaError) -> any MsdBuffer

    /// Makes the driver's semaphore for an event a client imported under `id` (Fuchsia's
    /// `msd_driver_import_semaphore`). `flags` are known flags only
    /// (`.oneShot`: waits never reset it). Throwing fails the connection with that error.
    func importSemaphore(event: EventSemaphore, id: ObjectId, flags: ImportSemaphoreFlags) throws(MagmaError) -> any MsdSemaphore

    /// Makes the driver's timeline for a timeline page a client imported under `id`: the
    /// shared state every holder sees (`Timeline`). A driver without timelines keeps the
    /// default, which answers UNIMPLEMENTED. Throwing fails the connection with that error.
    func importTimeline(_ timeline: Timeline, id: ObjectId) throws(MagmaError) -> any MsdTimeline
}

/// One client's address space, contexts and performance-counter pools, as the driver sees
/// them.
public protocol MsdConnection: AnyObject, Sendable {
    /// Creates a context (a queue of work) sharing this connection's address space, in queue
    /// family `queueFamily` (an index into `MsdDevice.info.queueFamilies`, checked by
    /// MagmaSystem, as is the family's count of contexts per connection).
    func createContext(priority: Priority, queueFamily: UInt32) throws(MagmaError) -> any MsdContext

    /// Adds `mapping` of one of this connection's buffers to the GPU page tables.
    /// MagmaSystem has checked alignment, range and overlap.
    func map(_ mapping: GpuMapping) throws(MagmaError)

    /// Removes `mapping` from the GPU page tables. A buffer's mappings are all removed before
    /// its `release()`, except at connection release, which drops the whole address space.
    func unmap(_ mapping: GpuMapping)

    /// Populates or depopulates the page-table entries of `mapping` that fall in the buffer
    /// byte range `offset ..< offset + length` (already checked against the buffer).
    func updatePageTables(_ op: BufferRangeOp, mapping: GpuMapping, offset: UInt64, length: UInt64) throws(MagmaError)

    /// Replaces the set of counters this connection's dumps write: a bit set over counter
    /// indices (word `w`, bit `b` selects counter `64w + b`; `PerformanceCounterSet` reads it).
    /// A counter the device does not have is INVALID_ARGS; a device without counters throws
    /// UNIMPLEMENTED (the default). MagmaSystem has checked the client's access.
    func enablePerformanceCounters(_ counters: [UInt64]) throws(MagmaError)

    /// Sets the selected counters to zero, for the whole device. Errors as
    /// `enablePerformanceCounters`.
    func clearPerformanceCounters(_ counters: [UInt64]) throws(MagmaError)

    /// Makes the pool the client created under `id`, which dumps are written into
    /// (Fuchsia's `msd_connection_create_performance_counter_buffer_pool`). MagmaSystem keeps
    /// the pool's event channel and has checked the id. UNIMPLEMENTED without counters (the
    /// default).
    func createPerformanceCounterPool(id: UInt64) throws(MagmaError) -> any MsdPerformanceCounterPool

    /// The client released `pool` (or the connection closes); no dump uses it afterwards.
    func releasePerformanceCounterPool(_ pool: any MsdPerformanceCounterPool)

    /// Adds a range of `buffer` (the client's id `bufferId`) to `pool`; dumps take ranges in
    /// the order they were added. MagmaSystem has checked that the range is non-empty, inside
    /// the buffer and below 4 GiB. The pool may keep using the buffer after its `release()`.
    func addPerformanceCounterRange(to pool: any MsdPerformanceCounterPool, buffer: any MsdBuffer, bufferId: ObjectId,
                                    offset: UInt64, length: UInt64) throws(MagmaError)

    /// Removes every range of buffer `bufferId` from `pool` (the buffer may be released).
    func removePerformanceCounterBuffer(from pool: any MsdPerformanceCounterPool, bufferId: ObjectId)

    /// Writes the enabled counters into the oldest range of `pool`, which the dump then takes
    /// out of the pool, and returns what MagmaSystem reports on the pool's event channel; nil
    /// if the pool has no range. A range too small for the enabled counters is INVALID_ARGS.
    func dumpPerformanceCounters(_ pool: any MsdPerformanceCounterPool, triggerId: UInt32) throws(MagmaError) -> PerformanceCounterCompletion?

    /// The client is gone: drop the address space and everything else. Work already running
    /// may finish; no notification is delivered afterwards. The connection's pools, buffers and
    /// semaphores are released after it; no other call on the connection follows.
    func release()
}

/// A queue of GPU work in a connection. Work on one context runs in submission order.
public protocol MsdContext: AnyObject, Sendable {
    /// Queues `work` behind the context's earlier work, with its wait and signal lists
    /// (`work.waitSemaphores`, `work.signalSemaphores`: this driver's semaphores), and returns
    /// without waiting. The driver starts the work only once every wait semaphore has
    /// signaled, then consumes each of them once (binary semantics; one-shot imports are never
    /// reset), and work queued behind it on this context waits too. The semaphores' eventfds
    /// belong to clients: a driver must not block on them, nor rely on their O_NONBLOCK flag
    /// (poll them; `EventSemaphore` resets without blocking). The driver calls `work.complete`
    /// exactly once, from its own thread, and on success signals the signal semaphores after
    /// it (so a client woken by one may release what the work used). Work that does not
    /// complete successfully signals nothing. Inline commands (`GpuWork.Payload.inline`: one
    /// request's commands, as one work) carry semaphores whose meaning the driver defines. Timeline points (`work.waitTimelinePoints`,
    /// `work.signalTimelinePoints`) are waited for and signaled the same way; work that does not
    /// complete successfully records its status as the failure of each signal timeline
    /// instead, and work whose wait timeline has failed before its point was reached completes
    /// with CONTEXT_KILLED, so no waiter on a point of failed work is left waiting.
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
