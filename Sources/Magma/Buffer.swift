import MagmaPlatform
import MagmaProtocol
import Synchronization

/// GPU-visible memory created by (or imported into) a connection. Its CPU mapping, made by
/// the backend on first use, stays valid for as long as the object lives, even after release.
public final class Buffer: Sendable {
    /// The backend's buffer.
    let backend: any BackendBuffer
    let ownership: Ownership
    private let policy = Atomic<UInt32>(CachePolicy.cached.rawValue)
    private let label = Locked<String>("")

    /// Longest name kept by `setName`.
    public static let maxNameLength = 32

    init(backend: any BackendBuffer, owner: UInt64) {
        self.backend = backend
        ownership = Ownership(owner: owner, kind: "buffer", id: backend.id)
    }

    /// The buffer's id in its connection.
    public var id: ObjectId { backend.id }
    /// Size in bytes (the request rounded up to pages).
    public var size: UInt64 { backend.size }

    /// The buffer's bytes, for reading and writing from the CPU: the CPU mapping of the whole
    /// buffer, made by the backend on first use and the same on every later one. Memory the CPU
    /// cannot reach (a memory type without HOST_VISIBLE, device-local memory of a kernel
    /// backend) throws INVALID_ARGS, and the buffer stays usable on the GPU.
    public var bytes: UnsafeMutableRawBufferPointer {
        get throws(MagmaError) { try backend.cpuMapping() }
    }

    /// The start of `bytes`; throws as `bytes` does.
    public var contents: UnsafeMutableRawPointer {
        get throws(MagmaError) {
            guard let base = try bytes.baseAddress else { throw .internalError("buffer \(id): the backend mapped no bytes") }
            return base
        }
    }

    /// A new descriptor (a sealed memfd on the embedded and magmad backends) for importing the
    /// buffer elsewhere. The caller owns it. A buffer of adopted guest pages has none
    /// (INVALID_ARGS).
    public func export() throws(MagmaError) -> OwnedFileDescriptor { try backend.export() }

    /// A new descriptor for mapping the buffer on the CPU. Closing it leaves existing CPU
    /// mappings valid.
    public func handle() throws(MagmaError) -> OwnedFileDescriptor { try export() }

    /// Size and committed bytes.
    public var info: BufferInfo {
        BufferInfo(committedByteCount: backend.committedByteCount, size: size)
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

    /// Whether `connection` created or imported it.
    package func isOwned(by connection: Connection) -> Bool { ownership.isOwned(by: connection.key) }
    /// Whether its connection released it.
    package var isReleased: Bool { ownership.isReleased }

    /// Names the buffer for debugging.
    public func setName(_ newName: String) {
        var utf8 = Array(newName.utf8.prefix(Self.maxNameLength))
        while String(validating: utf8, as: UTF8.self) == nil { utf8.removeLast() }
        label.withLock { $0 = String(decoding: utf8, as: UTF8.self) }
    }
}
