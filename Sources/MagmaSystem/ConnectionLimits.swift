import MagmaProtocol

/// How much one connection may hold at once. Passing a limit closes the connection with
/// MEMORY_ERROR; other connections are not affected.
public struct ConnectionLimits: Sendable, Equatable {
    /// Buffers, semaphores, contexts and mappings together.
    public var maxObjects: Int
    /// Bytes of distinct buffer memory imported.
    public var maxImportedBytes: UInt64
    /// Descriptors held: one per buffer, semaphore and performance-counter pool (the same
    /// memory imported again under its id holds no more).
    public var maxDescriptors: Int
    /// Daemon memory held by submitted work (command batches and inline commands) not yet
    /// completed, waiting on semaphores or queued for the GPU, as `GpuWork.pendingCost(of:signals:)`
    /// counts it.
    public var maxPendingBytes: UInt64

    /// Creates limits; see each property.
    public init(maxObjects: Int, maxImportedBytes: UInt64, maxDescriptors: Int = .max, maxPendingBytes: UInt64 = .max) {
        self.maxObjects = maxObjects
        self.maxImportedBytes = maxImportedBytes
        self.maxDescriptors = maxDescriptors
        self.maxPendingBytes = maxPendingBytes
    }

    /// No limit: for the system's own, in-process clients.
    public static let unlimited = ConnectionLimits(maxObjects: .max, maxImportedBytes: .max)

    /// The default for clients of another process: 65,536 objects, 4 GiB, 1,024 descriptors
    /// and 100 MB of pending work (the flow-control byte limit).
    public static let untrusted = ConnectionLimits(maxObjects: 65_536, maxImportedBytes: 4 << 30, maxDescriptors: 1024,
                                                   maxPendingBytes: UInt64(FlowControlLimits.standard.maxInflightMegabytes) << 20)
}
