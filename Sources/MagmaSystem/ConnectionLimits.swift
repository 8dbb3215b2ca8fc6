/// How much one connection may hold at once. Passing a limit closes the connection with
/// MEMORY_ERROR; other connections are not affected.
public struct ConnectionLimits: Sendable, Equatable {
    /// Buffers, semaphores, contexts and mappings together.
    public var maxObjects: Int
    /// Bytes of distinct buffer memory imported.
    public var maxImportedBytes: UInt64

    public init(maxObjects: Int, maxImportedBytes: UInt64) {
        self.maxObjects = maxObjects
        self.maxImportedBytes = maxImportedBytes
    }

    /// No limit: for the system's own, in-process clients.
    public static let unlimited = ConnectionLimits(maxObjects: .max, maxImportedBytes: .max)

    /// The default for clients of another process: 65,536 objects and 4 GiB.
    public static let untrusted = ConnectionLimits(maxObjects: 65_536, maxImportedBytes: 4 << 30)
}
