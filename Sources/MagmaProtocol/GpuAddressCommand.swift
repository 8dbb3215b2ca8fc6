/// One submission whose command stream is named by GPU address and length in the connection's
/// address space (Mesa's `magma_submit_address_space_info`), beside `CommandDescriptor`'s
/// buffer + offset form. The driver reads the stream through its MMU when the work runs: a
/// range not mapped readable faults like any other bad access.
public struct GpuAddressCommand: Hashable, Sendable {
    /// Where the command stream starts.
    public var gpuAddress: UInt64
    /// Its length in bytes; nonzero.
    public var length: UInt64
    /// Semaphores to wait on before the work starts (reset once all have signaled).
    public var waitSemaphores: [ObjectId]
    /// Semaphores to signal when it completes.
    public var signalSemaphores: [ObjectId]
    /// Driver-defined bits live at and above `CommandDescriptor.vendorFlags0`.
    public var flags: UInt64
    /// Timeline points to wait for before the work starts (as `CommandDescriptor`'s).
    public var waitTimelinePoints: [TimelinePoint]
    /// Timeline points to signal when it completes; work that fails records its error on
    /// these timelines instead.
    public var signalTimelinePoints: [TimelinePoint]

    public init(gpuAddress: UInt64, length: UInt64, waitSemaphores: [ObjectId] = [], signalSemaphores: [ObjectId] = [], flags: UInt64 = 0,
                waitTimelinePoints: [TimelinePoint] = [], signalTimelinePoints: [TimelinePoint] = []) {
        self.gpuAddress = gpuAddress
        self.length = length
        self.waitSemaphores = waitSemaphores
        self.signalSemaphores = signalSemaphores
        self.flags = flags
        self.waitTimelinePoints = waitTimelinePoints
        self.signalTimelinePoints = signalTimelinePoints
    }
}
