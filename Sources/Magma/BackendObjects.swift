import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// A buffer as its backend made it. The backend allocates `id` (a Fuchsia-protocol backend on
/// the client side, per connection; a kernel backend takes the GEM handle the kernel made), and
/// `CommandDescriptor`s and performance-counter ranges name the buffer by it.
public protocol BackendBuffer: AnyObject, Sendable {
    /// The buffer's id in its connection, never 0.
    var id: ObjectId { get }
    /// Size in bytes, as the backend rounded it.
    var size: UInt64 { get }
    /// Bytes that have backing pages now.
    var committedByteCount: UInt64 { get }
    /// The CPU mapping of the whole buffer, made on the first call and the same on every later
    /// one. A buffer the CPU cannot reach (device-local memory) throws INVALID_ARGS.
    func cpuMapping() throws(MagmaError) -> UnsafeMutableRawBufferPointer
    /// A new descriptor of the backend's export kind (a sealed memfd, a dma-buf) that
    /// `ConnectionBackend.importBuffer` of the same backend kind accepts. The caller owns it.
    func export() throws(MagmaError) -> OwnedFileDescriptor
}

/// A sync object as its backend made it: a binary semaphore the CPU and the GPU signal and
/// wait on, of the backend's own kind (an eventfd, a DRM syncobj, a virtio fence).
public protocol BackendSemaphore: AnyObject, Sendable {
    /// The semaphore's id in its connection, allocated by the backend, never 0.
    var id: ObjectId { get }
    /// Whether GPU waits and `reset()` leave it signaled (Fuchsia's one-shot import).
    var isOneShot: Bool { get }
    /// Whether it is signaled now.
    var isSignaled: Bool { get }
    /// Signals it from the CPU.
    func signal()
    /// Clears it from the CPU; does nothing for a one-shot semaphore.
    func reset()
    /// A new descriptor of the backend's export kind (an eventfd, a sync_file), to import
    /// elsewhere. The caller owns it.
    func export() throws(MagmaError) -> OwnedFileDescriptor
    /// A descriptor that polls readable while the semaphore is signaled (the CPU wait `Poll`
    /// uses). Owned by the semaphore (borrowed by the caller); stable for its lifetime.
    var pollDescriptor: FileDescriptor { get }
}

/// A performance-counter pool as its backend made it, with the channel its completions arrive on.
public protocol BackendPerformanceCounterPool: AnyObject, Sendable {
    /// The pool's id in its connection, allocated by the backend.
    var id: UInt64 { get }
    /// Polls readable while a completion is waiting. Owned by the pool (borrowed by the caller).
    var eventDescriptor: FileDescriptor { get }
    /// The next completion, or nil if none is waiting.
    func nextCompletion() throws(MagmaError) -> PerformanceCounterCompletion?
}
