/// One submission: resources it uses, command buffers to run in order, semaphores to wait on
/// before it starts (reset once all have signaled) and to signal when it completes.
public struct CommandDescriptor: Hashable, Sendable {
    public var resources: [BufferRange]
    public var commandBuffers: [CommandBufferEntry]
    public var waitSemaphores: [ObjectId]
    public var signalSemaphores: [ObjectId]
    /// Driver-defined bits live at and above `vendorFlags0`.
    public var flags: UInt64
    /// Timeline points that must all be reached before the work starts.
    public var waitTimelinePoints: [TimelinePoint] = []
    /// Timeline points reached when the work completes; work that fails records its error on
    /// these timelines instead.
    public var signalTimelinePoints: [TimelinePoint] = []

    public init(resources: [BufferRange], commandBuffers: [CommandBufferEntry],
                waitSemaphores: [ObjectId] = [], signalSemaphores: [ObjectId] = [], flags: UInt64 = 0,
                waitTimelinePoints: [TimelinePoint] = [], signalTimelinePoints: [TimelinePoint] = []) {
        self.resources = resources
        self.commandBuffers = commandBuffers
        self.waitSemaphores = waitSemaphores
        self.signalSemaphores = signalSemaphores
        self.flags = flags
        self.waitTimelinePoints = waitTimelinePoints
        self.signalTimelinePoints = signalTimelinePoints
    }
}
