import MagmaPlatform
import MagmaProtocol
import Synchronization

/// GPU-visible memory created by (or imported into) a connection. Its bytes are mapped into
/// this process at `contents` for as long as the object lives, even after release.
public final class Buffer: Sendable {
    /// The buffer's id in its connection.
    public let id: ObjectId
    /// Size in bytes (the request rounded up to pages).
    public let size: UInt64
    let memory: SharedMemory
    let ownership: Ownership
    private let policy = Atomic<UInt32>(CachePolicy.cached.rawValue)
    private let label = Locked<String>("")

    /// Longest name kept by `setName`.
    public static let maxNameLength = 32

    init(id: ObjectId, memory: SharedMemory, owner: ObjectIdentifier) {
        self.id = id
        self.memory = memory
        self.size = UInt64(memory.size)
        ownership = Ownership(owner: owner, kind: "buffer", id: id)
    }

    /// The CPU mapping of the whole buffer.
    public var contents: UnsafeMutableRawPointer { memory.base }

    /// The buffer's bytes, for reading and writing from the CPU.
    public var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: memory.base, count: memory.size) }

    /// A new descriptor (a sealed memfd) for importing the buffer elsewhere. The caller owns it.
    public func export() throws(MagmaError) -> OwnedFileDescriptor {
        do { return try memory.descriptor.duplicate() } catch { throw .memoryError("\(error)") }
    }

    /// A new descriptor for mapping the buffer on the CPU. Closing it leaves existing CPU
    /// mappings valid.
    public func handle() throws(MagmaError) -> OwnedFileDescriptor { try export() }

    /// Size and committed bytes.
    public var info: BufferInfo {
        BufferInfo(committedByteCount: UInt64(memory.committedBytes), size: size)
    }

    /// The CPU cache policy. SoftGPU shares coherent memory with the CPU, so every policy is
    /// honoured trivially; it is recorded for drivers and for `cachePolicy`.
    public var cachePolicy: CachePolicy { CachePolicy(rawValue: policy.load(ordering: .relaxed)) ?? .cached }

    /// Sets the CPU cache policy.
    public func setCachePolicy(_ newPolicy: CachePolicy) { policy.store(newPolicy.rawValue, ordering: .relaxed) }

    /// Cleans (or cleans and invalidates) CPU caches for a range. The range must lie inside the
    /// buffer. Memory here is coherent, so after the check there is nothing to flush.
    public func cleanCache(offset: UInt64, length: UInt64, operation: CacheOperation) throws(MagmaError) {
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= size else { throw .invalidArgs("cache range \(offset)+\(length) outside buffer of \(size)") }
    }

    /// A debugging name; truncated to `maxNameLength` bytes.
    public var name: String { label.withLock { $0 } }

    /// Names the buffer for debugging.
    public func setName(_ newName: String) {
        var utf8 = Array(newName.utf8.prefix(Self.maxNameLength))
        while String(validating: utf8, as: UTF8.self) == nil { utf8.removeLast() }
        label.withLock { $0 = String(decoding: utf8, as: UTF8.self) }
    }
}
