import MagmaPlatform
import MagmaProtocol
import Synchronization
import SystemPackage

/// A connection to a device: a private GPU address space and the buffers, semaphores and
/// contexts created in it.
///
/// Requests are feed-forward. A method throws at once only for what the client can see
/// itself (a released or foreign object, a bad argument, a connection already failed); what
/// the system rejects closes the connection, and the error then shows in `flush()`, `error`,
/// and every later request. Objects live until released or until the connection closes.
public final class Connection: Sendable {
    /// The backend's connection.
    let backend: any ConnectionBackend
    /// Names the connection as the owner of its objects. Unique in the process and never
    /// reused (an object identifier would be, once the connection is gone).
    let key: UInt64
    private static let nextKey = Atomic<UInt64>(1)
    private let closed = Atomic<Bool>(false)
    /// Why `fail(_:)` closed the connection; nil after `release()`. Read only once `closed`.
    private let failure = Locked<MagmaError?>(nil)

    init(backend: any ConnectionBackend) {
        self.backend = backend
        key = Self.nextKey.add(1, ordering: .relaxed).oldValue
    }

    deinit { backend.close() }

    /// Throws the connection's error: the client-side failure `fail(_:)` recorded, BAD_STATE
    /// after `release()`, or the backend's sticky error. The one open check of every call.
    package func checkOpen() throws(MagmaError) {
        if closed.load(ordering: .acquiring) { throw closedError }
        if let error = backend.error { throw error }
    }

    private var closedError: MagmaError { failure.withLock { $0 } ?? MagmaError(.badState, "connection was released") }

    /// Closes the connection. The system releases everything it held for it.
    public func release() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        backend.close()
    }

    /// Closes the connection with `error`, as the system closes one for a bad request: `error`,
    /// every later call and every `Poll` involving the connection report it. Does nothing once
    /// the connection is closed. The C API closes a connection so for a misuse in a call that
    /// returns nothing (releasing or unmapping an object the connection does not own).
    package func fail(_ error: MagmaError) {
        let first = failure.withLock { failure in
            guard !closed.load(ordering: .acquiring), failure == nil else { return false }
            failure = error
            return true
        }
        if first { release() }
    }

    // MARK: Errors

    /// The connection's error as known now (no round trip), or nil while healthy.
    public var error: MagmaError? {
        closed.load(ordering: .acquiring) ? closedError : backend.error
    }

    /// `error` for a waiter woken by this connection's descriptors (`ConnectionBackend.errorAfterWake`).
    var errorAfterWake: MagmaError? {
        closed.load(ordering: .acquiring) ? closedError : backend.errorAfterWake
    }

    /// Waits until every earlier request has been observed by the system; throws the
    /// connection's error if it has failed.
    public func flush() throws(MagmaError) {
        try checkOpen()
        if let error = backend.flush() { throw error }
    }

    // MARK: Contexts

    /// Creates a context. Priorities above `.medium` need a trusted client.
    public func createContext(priority: Priority = .medium) throws(MagmaError) -> Context {
        try checkOpen()
        return Context(id: try backend.createContext(queueFamily: 0, priority: priority), priority: priority, owner: key)
    }

    /// Releases a context. Work still queued on it is abandoned: it never signals its
    /// semaphores, so the connection closes with CONTEXT_KILLED and their waiters learn it.
    public func release(_ context: Context) throws(MagmaError) {
        try checkOpen()
        try context.ownership.release(key)
        try backend.destroyContext(context.id)
    }

    // MARK: Buffers

    /// Creates a zeroed buffer of at least `size` bytes (rounded up to whole pages) of memory
    /// type 0; past its heap's budget, MEMORY_ERROR with the connection still usable
    /// (`createBuffer(size:memoryType:name:)` names another type).
    public func createBuffer(size: UInt64, name: String = "") throws(MagmaError) -> Buffer {
        try createBuffer(size: size, memoryType: 0, name: name)
    }

    /// Imports a buffer exported elsewhere; takes ownership of `descriptor`. Anything but a
    /// buffer of the backend's export kind (a size-sealed memfd on the embedded and magmad
    /// backends) is INVALID_ARGS. The embedded backend also takes a dma-buf a kernel driver
    /// exported (a MagmaDRM buffer's export), so its GPU works on that driver's memory; magmad
    /// refuses dma-bufs (docs/drm.md). The import gets a new id in this connection, and counts
    /// as memory of type 0 against its heap's budget (`importBuffer(_:memoryType:)`).
    public func importBuffer(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> Buffer {
        try importBuffer(descriptor, memoryType: 0)
    }

    /// Releases a buffer (and unmaps it). A buffer of another connection, or one released
    /// already, is INVALID_ARGS and changes nothing; on a connection that has failed the buffer
    /// is released with it and the connection's error is thrown. Releasing a buffer in-flight
    /// work still uses closes the connection with BAD_STATE.
    public func release(_ buffer: Buffer) throws(MagmaError) {
        try buffer.ownership.release(key)
        try checkOpen()
        try backend.release(buffer.backend)
    }

    // MARK: Semaphores

    /// Creates an unsignaled semaphore.
    public func createSemaphore() throws(MagmaError) -> Semaphore {
        try checkOpen()
        return Semaphore(backend: try backend.createSemaphore(), connection: self)
    }

    /// Imports a semaphore exported elsewhere; takes ownership of `descriptor`. Anything but a
    /// semaphore of the backend's export kind (an eventfd on the embedded and magmad backends)
    /// is INVALID_ARGS. With `.oneShot`, GPU waits and `reset()` never reset it.
    public func importSemaphore(_ descriptor: OwnedFileDescriptor, flags: ImportSemaphoreFlags = []) throws(MagmaError) -> Semaphore {
        try checkOpen()
        return Semaphore(backend: try backend.importSemaphore(descriptor, flags: flags), connection: self)
    }

    /// Releases a semaphore. Ownership as for `release(_:)` of a buffer: INVALID_ARGS for a
    /// semaphore of another connection or one released already.
    public func release(_ semaphore: Semaphore) throws(MagmaError) {
        try semaphore.ownership.release(key)
        try checkOpen()
        try backend.release(semaphore.backend)
    }

    // MARK: Mappings

    /// Maps `length` bytes of `buffer` from `offset` at `gpuAddress` (all page aligned).
    /// `length` defaults to the rest of the buffer.
    public func map(_ buffer: Buffer, at gpuAddress: UInt64, offset: UInt64 = 0, length: UInt64? = nil, flags: MapFlags) throws(MagmaError) {
        try checkOpen()
        try buffer.ownership.check(key)
        let length = length ?? (offset <= buffer.size ? buffer.size - offset : 0)
        try backend.map(buffer.backend, at: gpuAddress, offset: offset, length: length, flags: flags)
    }

    /// Removes the mapping of `buffer` at `gpuAddress`. Unmapping what in-flight work uses
    /// closes the connection with BAD_STATE.
    public func unmap(_ buffer: Buffer, at gpuAddress: UInt64) throws(MagmaError) {
        try checkOpen()
        try buffer.ownership.check(key)
        try backend.unmap(buffer.backend, at: gpuAddress)
    }

    /// Performs a range operation on whole pages: an offset or length that is not a multiple of
    /// the page size, or a zero length, is INVALID_ARGS. COMMIT and DECOMMIT act on the buffer's
    /// memory here and report their own errors, as Fuchsia's client does: a COMMIT past the
    /// buffer's end is MEMORY_ERROR, a DECOMMIT past it INVALID_ARGS, and a DECOMMIT releases
    /// exactly its pages (they read back as zeros). POPULATE_TABLES and DEPOPULATE_TABLES go to
    /// the system, which applies the same alignment rule (feed-forward: flush reports it).
    public func perform(_ op: BufferRangeOp, on buffer: Buffer, offset: UInt64, length: UInt64) throws(MagmaError) {
        try checkOpen()
        try buffer.ownership.check(key)
        try backend.perform(op, on: buffer.backend, offset: offset, length: length)
    }

    // MARK: Execution

    /// Submits work on `context`: it starts once every wait semaphore has signaled (they are
    /// then reset) and every wait timeline point is reached, and signals its signal semaphores
    /// and timeline points on completion (work that fails records CONTEXT_KILLED on its signal
    /// timelines instead; `TimelineSemaphore.point(_:)` makes the points).
    public func execute(on context: Context, _ descriptor: CommandDescriptor) throws(MagmaError) {
        try checkOpen()
        try context.ownership.check(key)
        try backend.execute(contextId: context.id, descriptor)
    }

    /// Submits small commands carried in the message itself; they are split into messages of
    /// at most 2 KiB, and each message is one piece of work on the device (on SoftGPU: one
    /// sequence number and one completion notification).
    public func executeInline(on context: Context, _ commands: [InlineCommand]) throws(MagmaError) {
        try checkOpen()
        try context.ownership.check(key)
        try backend.executeInline(contextId: context.id, commands)
    }

    // MARK: Notifications

    /// A descriptor that polls readable while a notification is pending or the connection has
    /// closed. Owned by the connection (borrowed here: valid while it lives); stable for its
    /// lifetime.
    public var notificationDescriptor: FileDescriptor { backend.notificationDescriptor }

    /// Polls readable once the connection has failed or closed (and possibly at other times:
    /// check `error`). `Poll.wait` adds it for every item of this connection.
    var failureDescriptor: FileDescriptor { backend.failureDescriptor }

    /// The next pending driver notification, or nil if none is pending. CONNECTION_LOST once
    /// the connection has closed and every notification has been read, or once `fail(_:)`
    /// closed it; BAD_STATE after `release()`.
    public func readNotification() throws(MagmaError) -> [UInt8]? {
        if isClosed {
            if let failure = failure.withLock({ $0 }) { throw MagmaError(.connectionLost, "connection closed: \(failure)") }
            throw .badState("connection was released")
        }
        return try backend.readNotification()
    }

    /// Whether `release()` or `fail(_:)` closed the connection.
    package var isClosed: Bool { closed.load(ordering: .acquiring) }
}
