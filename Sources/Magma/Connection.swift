import MagmaPlatform
import MagmaProtocol
import Synchronization

/// A connection to a device: a private GPU address space and the buffers, semaphores and
/// contexts created in it.
///
/// Requests are feed-forward. A method throws at once only for what the client can see
/// itself (a released or foreign object, a bad argument, a connection already failed); what
/// the system rejects closes the connection, and the error then shows in `flush()`, `error`,
/// and every later request. Objects live until released or until the connection closes.
public final class Connection: Sendable {
    let transport: any ConnectionTransport
    private let nextContextId = Atomic<UInt32>(1)
    private let closed = Atomic<Bool>(false)

    init(transport: any ConnectionTransport) {
        self.transport = transport
    }

    deinit { transport.close() }

    var key: ObjectIdentifier { ObjectIdentifier(self) }

    /// Throws the connection's error, or BAD_STATE after `release()`.
    func checkOpen() throws(MagmaError) {
        guard !closed.load(ordering: .acquiring) else { throw .badState("connection was released") }
        if let error = transport.error { throw error }
    }

    /// Closes the connection. The system releases everything it held for it.
    public func release() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        transport.close()
    }

    // MARK: Errors

    /// The connection's error as known now (no round trip), or nil while healthy.
    public var error: MagmaError? {
        closed.load(ordering: .acquiring) ? MagmaError(.badState, "connection was released") : transport.error
    }

    /// Waits until every earlier request has been observed by the system; throws the
    /// connection's error if it has failed.
    public func flush() throws(MagmaError) {
        try checkOpen()
        if let error = transport.flush() { throw error }
    }

    // MARK: Contexts

    /// Creates a context. Priorities above `.medium` need a trusted client.
    public func createContext(priority: Priority = .medium) throws(MagmaError) -> Context {
        try checkOpen()
        let context = Context(id: nextContextId.add(1, ordering: .relaxed).oldValue, priority: priority, owner: key)
        transport.createContext(id: context.id, priority: priority)
        return context
    }

    /// Releases a context. Work still queued on it is abandoned: it never signals its
    /// semaphores, so the connection closes with CONTEXT_KILLED and their waiters learn it.
    public func release(_ context: Context) throws(MagmaError) {
        try checkOpen()
        try context.ownership.release(key)
        transport.destroyContext(id: context.id)
    }

    // MARK: Buffers

    /// Creates a zeroed buffer of at least `size` bytes (rounded up to whole pages).
    public func createBuffer(size: UInt64, name: String = "") throws(MagmaError) -> Buffer {
        try checkOpen()
        guard size > 0 else { throw .invalidArgs("buffer size 0") }
        guard let rounded = SharedMemory.pageAligned(size), rounded <= UInt64(Int.max) else {
            throw .invalidArgs("buffer size \(size) too large")
        }
        let memory: SharedMemory
        do { memory = try SharedMemory.create(size: Int(rounded), name: name.isEmpty ? "magma-buffer" : name) }
        catch { throw .memoryError("cannot allocate \(rounded) bytes: \(error)") }
        let buffer = Buffer(id: ObjectIds.take(), memory: memory, owner: key)
        if !name.isEmpty { buffer.setName(name) }
        transport.importBuffer(id: buffer.id, memory: memory)
        return buffer
    }

    /// Imports a buffer exported elsewhere; takes ownership of `descriptor`. Anything but a
    /// size-sealed memfd is INVALID_ARGS. The import gets a new id in this connection.
    public func importBuffer(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> Buffer {
        try checkOpen()
        let memory: SharedMemory
        do { memory = try SharedMemory.importing(descriptor) } catch { throw .invalidArgs("not a buffer: \(error)") }
        let buffer = Buffer(id: ObjectIds.take(), memory: memory, owner: key)
        transport.importBuffer(id: buffer.id, memory: memory)
        return buffer
    }

    /// Releases a buffer (and unmaps it). Releasing a buffer in-flight work still uses closes
    /// the connection with BAD_STATE.
    public func release(_ buffer: Buffer) throws(MagmaError) {
        try checkOpen()
        try buffer.ownership.release(key)
        transport.releaseBuffer(id: buffer.id)
    }

    // MARK: Semaphores

    /// Creates an unsignaled semaphore.
    public func createSemaphore() throws(MagmaError) -> Semaphore {
        try checkOpen()
        let event: EventSemaphore
        do { event = try EventSemaphore() } catch { throw .memoryError("\(error)") }
        let semaphore = Semaphore(id: ObjectIds.take(), event: event, connection: self)
        transport.importSemaphore(id: semaphore.id, event: event, flags: [])
        return semaphore
    }

    /// Imports a semaphore exported elsewhere; takes ownership of `descriptor`. Anything but an
    /// eventfd is INVALID_ARGS. With `.oneShot`, GPU waits and `reset()` never reset it.
    public func importSemaphore(_ descriptor: OwnedFileDescriptor, flags: ImportSemaphoreFlags = []) throws(MagmaError) -> Semaphore {
        try checkOpen()
        let event: EventSemaphore
        do { event = try EventSemaphore(importing: descriptor) } catch { throw .invalidArgs("not a semaphore: \(error)") }
        let semaphore = Semaphore(id: ObjectIds.take(), event: event, oneShot: flags.contains(.oneShot), connection: self)
        transport.importSemaphore(id: semaphore.id, event: event, flags: flags)
        return semaphore
    }

    /// Releases a semaphore.
    public func release(_ semaphore: Semaphore) throws(MagmaError) {
        try checkOpen()
        try semaphore.ownership.release(key)
        transport.releaseSemaphore(id: semaphore.id)
    }

    // MARK: Mappings

    /// Maps `length` bytes of `buffer` from `offset` at `gpuAddress` (all page aligned).
    /// `length` defaults to the rest of the buffer.
    public func map(_ buffer: Buffer, at gpuAddress: UInt64, offset: UInt64 = 0, length: UInt64? = nil, flags: MapFlags) throws(MagmaError) {
        try checkOpen()
        try buffer.ownership.check(key)
        let length = length ?? (offset <= buffer.size ? buffer.size - offset : 0)
        transport.mapBuffer(gpuAddress: gpuAddress, bufferId: buffer.id, offset: offset, length: length, flags: flags)
    }

    /// Removes the mapping of `buffer` at `gpuAddress`. Unmapping what in-flight work uses
    /// closes the connection with BAD_STATE.
    public func unmap(_ buffer: Buffer, at gpuAddress: UInt64) throws(MagmaError) {
        try checkOpen()
        try buffer.ownership.check(key)
        transport.unmapBuffer(gpuAddress: gpuAddress, bufferId: buffer.id)
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
        switch op {
        case .commit, .decommit:
            guard length > 0, SharedMemory.isPageAligned(offset), SharedMemory.isPageAligned(length) else {
                throw .invalidArgs("\(op) of \(offset)+\(length): offset and length must be whole pages of \(SharedMemory.pageSize) bytes")
            }
            let (end, overflow) = offset.addingReportingOverflow(length)
            guard !overflow, end <= buffer.size else {
                let message = "\(op) of \(offset)+\(length) passes the end of a buffer of \(buffer.size) bytes"
                throw op == .commit ? .memoryError(message) : .invalidArgs(message)
            }
            do {
                if op == .commit { try buffer.memory.commit(offset: Int(offset), length: Int(length)) }
                else { try buffer.memory.decommit(offset: Int(offset), length: Int(length)) }
            } catch { throw .memoryError("\(error)") }
        case .populateTables, .depopulateTables:
            transport.bufferRangeOp(bufferId: buffer.id, op: op, offset: offset, length: length)
        }
    }

    // MARK: Execution

    /// Submits work on `context`: it starts once every wait semaphore has signaled (they are
    /// then reset) and signals its signal semaphores on completion.
    public func execute(on context: Context, _ descriptor: CommandDescriptor) throws(MagmaError) {
        try checkOpen()
        try context.ownership.check(key)
        transport.executeCommand(contextId: context.id, descriptor: descriptor)
    }

    /// Submits small commands carried in the message itself; they are split into messages of
    /// at most 2 KiB.
    public func executeInline(on context: Context, _ commands: [InlineCommand]) throws(MagmaError) {
        try checkOpen()
        try context.ownership.check(key)
        transport.executeInlineCommands(contextId: context.id, commands: commands)
    }

    // MARK: Notifications

    /// A descriptor that polls readable while a notification is pending or the connection has
    /// closed. Owned by the connection; stable for its lifetime.
    public var notificationDescriptor: Int32 { transport.notificationDescriptor }

    /// Polls readable once the connection has failed or closed (and possibly at other times:
    /// check `error`). `Poll.wait` adds it for every item of this connection.
    var failureDescriptor: Int32 { transport.failureDescriptor }

    /// The next pending driver notification, or nil if none is pending. CONNECTION_LOST once
    /// the connection has closed and every notification has been read.
    public func readNotification() throws(MagmaError) -> [UInt8]? {
        guard !closed.load(ordering: .acquiring) else { throw .badState("connection was released") }
        return try transport.readNotification()
    }
}
