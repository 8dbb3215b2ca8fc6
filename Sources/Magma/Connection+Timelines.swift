import MagmaPlatform
import MagmaProtocol

extension Connection {
    /// Creates a timeline semaphore whose value starts at `initialValue`.
    public func createTimelineSemaphore(initialValue: UInt64 = 0) throws(MagmaError) -> TimelineSemaphore {
        try checkOpen()
        return TimelineSemaphore(backend: try backend.createTimeline(initialValue: initialValue), connection: self)
    }

    /// Imports a timeline exported elsewhere; takes ownership of `descriptor`. Anything but a
    /// timeline of the backend's export kind (a sealed one-page memfd on the embedded and
    /// magmad backends) is INVALID_ARGS. The import shares the timeline's value and failure
    /// with every other holder, in any process.
    public func importTimelineSemaphore(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> TimelineSemaphore {
        try checkOpen()
        return TimelineSemaphore(backend: try backend.importTimeline(descriptor), connection: self)
    }

    /// Releases a timeline. Ownership as for `release(_:)` of a buffer: INVALID_ARGS for a
    /// timeline of another connection or one released already. Work already submitted still
    /// waits for and signals its points.
    public func release(_ timeline: TimelineSemaphore) throws(MagmaError) {
        try timeline.ownership.release(key)
        try checkOpen()
        try backend.release(timeline.backend)
    }
}
