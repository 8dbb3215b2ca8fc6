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

    /// Creates limits; see each property.
    public init(maxObjects: Int, maxImportedBytes: UInt64, maxDescriptors: Int = .max) {
        self.maxObjects = maxObjects
        self.maxImportedBytes = maxImportedBytes
        self.maxDescriptors = maxDescriptors
    }

    /// No limit: for the system's own, in-process clients.
    public static let unlimited = ConnectionLimits(maxObjects: .max, maxImportedBytes: .max)

    /// The default for clients of another process: 65,536 objects, 4 GiB and 1,024 descriptors.
    public static let untrusted = ConnectionLimits(maxObjects: 65_536, maxImportedBytes: 4 << 30, maxDescriptors: 1024)
}
