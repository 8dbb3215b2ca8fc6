import MagmaPlatform
import MagmaProtocol

/// A driver's timeline: what it made of a timeline a client imported
/// (`MsdDevice.importTimeline`). MagmaSystem hands it back in submissions' timeline points
/// (`GpuWork.waitTimelinePoints`, `signalTimelinePoints`) and never signals, fails or waits on
/// it.
public protocol MsdTimeline: AnyObject, Sendable {
    /// MagmaSystem holds the timeline no more: the client released it or its connection
    /// closed. Called exactly once, under the connection's lock. Work the driver still holds may
    /// go on waiting for its points or signal them.
    func release()
}

/// One point of a driver's timeline in a submission.
public struct MsdTimelinePoint: Sendable {
    /// The driver's timeline.
    public let timeline: any MsdTimeline
    /// The point: waited for until the value reaches it, or signaled by raising the value to it.
    public let value: UInt64

    /// A point of `timeline` (drivers' tests build their own).
    public init(timeline: any MsdTimeline, value: UInt64) {
        self.timeline = timeline
        self.value = value
    }
}

extension MsdDevice {
    /// A device without timelines refuses them: UNIMPLEMENTED, which fails the connection.
    public func importTimeline(_ timeline: Timeline, id: ObjectId) throws(MagmaError) -> any MsdTimeline {
        throw MagmaError(.unimplemented, "this driver has no timeline semaphores")
    }
}
