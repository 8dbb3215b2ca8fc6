import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// A timeline semaphore as its backend made it: a 64-bit value that only grows, shared by
/// every connection and process that imported it, signaled from the CPU or by GPU work, waited
/// on for any point (one nobody has signaled yet included). Submissions name it by `id` in
/// their timeline points (`CommandDescriptor.waitTimelinePoints`, `signalTimelinePoints`).
public protocol BackendTimeline: AnyObject, Sendable {
    /// The timeline's id in its connection, allocated by the backend, never 0.
    var id: ObjectId { get }
    /// The last point signaled.
    var value: UInt64 { get }
    /// Why work that was to signal the timeline failed (CONTEXT_KILLED), once it has: every
    /// wait on the timeline then ends with this error, whatever point it waits for. Nil while
    /// healthy.
    var failure: MagmaError? { get }
    /// Raises the value to `point` from the CPU, waking every waiter for a point up to it. A
    /// point not above the value (one that goes backwards or repeats) is INVALID_ARGS and
    /// changes nothing.
    func signal(to point: UInt64) throws(MagmaError)
    /// A new descriptor of the backend's export kind (a sealed memfd page on the
    /// Fuchsia-protocol backends) that `ConnectionBackend.importTimeline` of the same backend
    /// kind accepts. The caller owns it.
    func export() throws(MagmaError) -> OwnedFileDescriptor
    /// Starts a wait for `point` that `poll(2)` can take part in: the watch's descriptor polls
    /// readable once the value has reached `point` or the timeline has failed.
    func watch(for point: UInt64) throws(MagmaError) -> any BackendTimelineWatch
}

/// A pending wait for one timeline point (`BackendTimeline.watch(for:)`); it stops being
/// watched when released.
public protocol BackendTimelineWatch: AnyObject, Sendable {
    /// Polls readable once the point is reached or the timeline has failed. Owned by the watch
    /// (borrowed by the caller).
    var pollDescriptor: FileDescriptor { get }
}
