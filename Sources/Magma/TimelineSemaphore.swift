import MagmaPlatform
import MagmaProtocol

/// A timeline semaphore: a 64-bit value that only grows, shared by the CPU, the GPU and every
/// connection and process that imported it (the Mesa lineage's timeline sync object).
///
/// A point is reached once the value is at or above it; waits for points nobody has signaled
/// yet are normal. Submissions wait for and signal points (`point(_:)` in a
/// `CommandDescriptor`'s `waitTimelinePoints` and `signalTimelinePoints`). When work that was
/// to signal the timeline fails, the timeline records CONTEXT_KILLED and every wait for a point
/// not reached ends with it, in every process.
public final class TimelineSemaphore: Sendable {
    /// The backend's timeline.
    let backend: any BackendTimeline
    let ownership: Ownership
    /// The connection it was created in or imported into, while that connection exists: a
    /// wait on the timeline ends with the connection's error once it fails.
    weak let connection: Connection?

    init(backend: any BackendTimeline, connection: Connection) {
        self.backend = backend
        self.connection = connection
        ownership = Ownership(owner: connection.key, kind: "timeline", id: backend.id)
    }

    /// The timeline's id in its connection.
    public var id: ObjectId { backend.id }

    /// The last point signaled.
    public var value: UInt64 { backend.value }

    /// CONTEXT_KILLED once work that was to signal the timeline has failed; nil while healthy.
    public var failure: MagmaError? { backend.failure }

    /// `value` as a point of this timeline, for a submission's wait or signal list.
    public func point(_ value: UInt64) -> TimelinePoint { TimelinePoint(timelineId: id, value: value) }

    /// Raises the value to `point`. A point not above the value (backwards or repeated) is
    /// INVALID_ARGS and changes nothing; so is a released timeline.
    public func signal(to point: UInt64) throws(MagmaError) {
        guard !ownership.isReleased else { throw .invalidArgs("timeline \(id) was released") }
        try backend.signal(to: point)
    }

    /// Waits until the value reaches `point` or `timeoutNanoseconds` pass (`Poller.forever`
    /// waits forever): TIMED_OUT then. A wait ends early with the timeline's failure, or with
    /// its connection's error once the connection fails.
    public func wait(for point: UInt64, timeoutNanoseconds: UInt64) throws(MagmaError) {
        try SyncWait.all([.timeline(self, point)], timeoutNanoseconds: timeoutNanoseconds)
    }

    /// A new descriptor for the timeline, to import elsewhere (another connection, another
    /// process): the importer shares this timeline. The caller owns it.
    public func export() throws(MagmaError) -> OwnedFileDescriptor { try backend.export() }

    /// Whether its connection released it.
    package var isReleased: Bool { ownership.isReleased }

    /// A watch for `point` that `poll(2)` can take part in (`BackendTimeline.watch(for:)`): for
    /// a host that waits for a point on a guest's behalf (MagmaVirtioHost).
    package func watch(for point: UInt64) throws(MagmaError) -> any BackendTimelineWatch { try backend.watch(for: point) }
}
