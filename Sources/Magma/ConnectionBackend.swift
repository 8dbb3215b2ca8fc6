import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// One connection as a backend serves it: what `Connection` calls, after it has checked what
/// the client can see itself (the connection is open, the objects are its own and not
/// released, and the arguments the API defines).
///
/// Errors: a requirement that throws reports what the backend knows at once (a kernel
/// backend's ioctl error, memory that cannot be allocated, a bad descriptor to import); the
/// connection stays usable unless the backend also makes the error sticky. A feed-forward
/// backend (the Fuchsia protocol) returns normally from requests it cannot judge yet; when the
/// system rejects one it closes the connection, and the error then shows in `error`, `flush()`
/// and every later call (sticky). Either way `error` is the connection's sticky error.
///
/// Calls may come from any thread, concurrently: a backend serializes what it must.
public protocol ConnectionBackend: AnyObject, Sendable {
    // MARK: Buffers

    /// Makes a zeroed buffer of at least `size` bytes (> 0) of memory type `memoryType` (an
    /// index into the device's memory types, `PhysicalDeviceInfo.memoryProperties`), and
    /// registers it with the device, synchronously: an unknown type is INVALID_ARGS, an
    /// allocation past the type's heap budget MEMORY_ERROR, and either leaves the connection
    /// usable. A buffer of a type without HOST_VISIBLE has no CPU mapping.
    func createBuffer(size: UInt64, memoryType: UInt32, name: String) throws(MagmaError) -> any BackendBuffer
    /// Imports a buffer of this backend's export kind as memory of type `memoryType`, with
    /// `createBuffer`'s errors; takes ownership of `handle`. Anything else is INVALID_ARGS.
    /// The import gets a new id in this connection.
    func importBuffer(_ handle: OwnedFileDescriptor, memoryType: UInt32) throws(MagmaError) -> any BackendBuffer
    /// Makes a buffer whose memory IS `memory`, memory already mapped in this process (a
    /// `.guestPages` view of a guest's pages, in a device model over the embedded backend),
    /// with `createBuffer`'s errors: the device uses those pages in place, with no copy. Only a
    /// backend whose device runs in this process can: the default throws UNIMPLEMENTED, which
    /// is what a backend across a process or kernel boundary answers (magmad's sockets, DRM).
    /// A buffer of memory with no descriptor cannot be exported (INVALID_ARGS), and COMMIT
    /// and DECOMMIT do not apply to guest pages, as to dma-bufs.
    func adoptBuffer(_ memory: SharedMemory, memoryType: UInt32) throws(MagmaError) -> any BackendBuffer
    /// Heap `heap` as this connection sees it: the bytes its buffers hold there and the most it
    /// may hold now (a synchronous call). INVALID_ARGS for an unknown heap.
    func memoryBudget(heap: UInt32) throws(MagmaError) -> MemoryBudget
    /// Releases a buffer (and its mappings). Releasing one in-flight work uses fails the
    /// connection with BAD_STATE.
    func release(_ buffer: any BackendBuffer) throws(MagmaError)
    /// Performs a page-granular range operation: COMMIT and DECOMMIT of the buffer's memory,
    /// POPULATE_TABLES and DEPOPULATE_TABLES of its GPU page tables.
    func perform(_ op: BufferRangeOp, on buffer: any BackendBuffer, offset: UInt64, length: UInt64) throws(MagmaError)

    // MARK: Sync objects

    /// Makes an unsignaled semaphore of the backend's kind and registers it.
    func createSemaphore() throws(MagmaError) -> any BackendSemaphore
    /// Imports a semaphore of this backend's export kind; takes ownership of `handle`.
    /// Anything else is INVALID_ARGS.
    func importSemaphore(_ handle: OwnedFileDescriptor, flags: ImportSemaphoreFlags) throws(MagmaError) -> any BackendSemaphore
    /// Releases a semaphore.
    func release(_ semaphore: any BackendSemaphore) throws(MagmaError)
    /// Whether this backend's semaphores hold kernel fences that move as Linux sync_files
    /// (`exportSyncFile(of:)`, `importSyncFile(_:into:)`): MagmaDRM's syncobjs do. False by
    /// default (the extension below): the embedded and magmad backends' eventfds hold none.
    var hasSyncFiles: Bool { get }
    /// A new sync_file descriptor of `semaphore`'s current fence: a snapshot that later
    /// signals and resets of the semaphore do not change. The caller owns it. A semaphore
    /// that holds no fence (never signaled, or reset) is BAD_STATE (nothing to export); where
    /// the backend has no sync_files (`hasSyncFiles` false) UNIMPLEMENTED, the default.
    func exportSyncFile(of semaphore: any BackendSemaphore) throws(MagmaError) -> OwnedFileDescriptor
    /// Replaces `semaphore`'s fence with the sync_file's (from any driver): the semaphore is
    /// signaled when that fence is, and every holder of the semaphore sees it. Reads `syncFile`
    /// and leaves it open to its owner. A descriptor that is no sync_file is INVALID_ARGS and
    /// changes nothing; where the backend has no sync_files UNIMPLEMENTED, the default.
    func importSyncFile(_ syncFile: OwnedFileDescriptor, into semaphore: any BackendSemaphore) throws(MagmaError)

    // MARK: Timelines

    /// Makes a timeline semaphore at `initialValue` and registers it with the device.
    func createTimeline(initialValue: UInt64) throws(MagmaError) -> any BackendTimeline
    /// Imports a timeline of this backend's export kind; takes ownership of `handle`. Anything
    /// else (a buffer's or a semaphore's descriptor included) is INVALID_ARGS. The import gets a
    /// new id in this connection and shares the timeline's state with every other holder.
    func importTimeline(_ handle: OwnedFileDescriptor) throws(MagmaError) -> any BackendTimeline
    /// Releases a timeline. Work already submitted still waits for and signals its points.
    func release(_ timeline: any BackendTimeline) throws(MagmaError)

    // MARK: Contexts

    /// Makes a context (a queue of work in order) of queue family `queueFamily` (an index into
    /// the device's queue families: an unknown one is INVALID_ARGS) and returns its id,
    /// allocated by the backend. Priorities above `.medium` need a trusted client.
    func createContext(queueFamily: UInt32, priority: Priority) throws(MagmaError) -> UInt32
    /// Destroys a context; its queued work is abandoned.
    func destroyContext(_ id: UInt32) throws(MagmaError)

    // MARK: Address space

    /// Maps `length` bytes of `buffer` from `offset` at `gpuAddress` in the connection's
    /// address space.
    func map(_ buffer: any BackendBuffer, at gpuAddress: UInt64, offset: UInt64, length: UInt64, flags: MapFlags) throws(MagmaError)
    /// Removes the mapping of `buffer` at `gpuAddress`. Unmapping what in-flight work uses
    /// fails the connection with BAD_STATE.
    func unmap(_ buffer: any BackendBuffer, at gpuAddress: UInt64) throws(MagmaError)

    // MARK: Submissions

    /// Submits work on context `contextId`. `descriptor` names buffers and semaphores by their
    /// backend ids; the work starts once every wait semaphore has signaled (they are then
    /// reset, one-shot ones excepted) and signals every signal semaphore on completion.
    func execute(contextId: UInt32, _ descriptor: CommandDescriptor) throws(MagmaError)
    /// Submits inline commands on context `contextId`, in order; the backend splits them into
    /// messages as its transport needs.
    func executeInline(contextId: UInt32, _ commands: [InlineCommand]) throws(MagmaError)
    /// Submits the command stream at a GPU address of the connection's address space on
    /// context `contextId`, with its wait and signal lists as `execute`; the device reads the
    /// stream through its MMU when the work runs, and a range not mapped readable is a fault
    /// of the connection (sticky).
    func execute(contextId: UInt32, _ command: GpuAddressCommand) throws(MagmaError)
    /// Queues a bind on context `contextId` (one of a family that runs binds): its operations
    /// change the connection's address space in order once every wait has been satisfied, and
    /// its signals fire once all of them have taken effect. The backend validates the bind
    /// against the address space as it will be after the binds queued before; a refusal is
    /// the connection's error (sticky), as for `map`. UNIMPLEMENTED where the backend has no
    /// bind queue.
    func bind(contextId: UInt32, _ submission: BindSubmission) throws(MagmaError)

    // MARK: Performance counters

    /// Presents a performance-counter access token; a wrong one is ignored.
    func enablePerformanceCounterAccess(token: OwnedFileDescriptor) throws(MagmaError)
    /// Whether performance-counter access has been granted (a synchronous call).
    func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool
    /// Selects the counters dumps write (a bit set of 64-bit words).
    func enablePerformanceCounters(_ counters: [UInt64]) throws(MagmaError)
    /// Sets the selected counters to zero.
    func clearPerformanceCounters(_ counters: [UInt64]) throws(MagmaError)
    /// Makes an empty pool; its id is allocated by the backend.
    func createPerformanceCounterPool() throws(MagmaError) -> any BackendPerformanceCounterPool
    /// Releases a pool; no completions follow.
    func release(_ pool: any BackendPerformanceCounterPool) throws(MagmaError)
    /// Adds buffer ranges (buffers named by id) to a pool.
    func addPerformanceCounterRanges(_ ranges: [BufferRange], to pool: any BackendPerformanceCounterPool) throws(MagmaError)
    /// Removes every range of `buffer` from a pool.
    func removePerformanceCounterBuffer(_ buffer: any BackendBuffer, from pool: any BackendPerformanceCounterPool) throws(MagmaError)
    /// Dumps the enabled counters into the pool's next range; the completion carries `triggerId`.
    func dumpPerformanceCounters(into pool: any BackendPerformanceCounterPool, triggerId: UInt32) throws(MagmaError)

    // MARK: Errors and lifetime

    /// Waits until every earlier request has been observed by the device; returns the
    /// connection's sticky error, if any.
    func flush() -> MagmaError?
    /// The connection's sticky error as known now, without waiting.
    var error: MagmaError? { get }
    /// The connection's error for a waiter whose poll has just found `failureDescriptor` (or a
    /// channel of the connection) ready: what `error` says, or what the channel holds now if
    /// `error` would only learn of it later (a backend that learns of arrivals asynchronously
    /// looks at the channel itself here). Not for the hot path: it may make a system call.
    var errorAfterWake: MagmaError? { get }
    /// A descriptor that polls readable once the connection has failed or closed, and stays
    /// readable from then on; `Poll` adds it for every connection a wait involves, so a failure
    /// ends the wait. It may also poll readable while the connection is healthy (a backend may
    /// use its primary channel), so a waiter checks `error` when it does. Owned by the backend
    /// (borrowed by the caller).
    var failureDescriptor: FileDescriptor { get }
    /// A descriptor that polls readable while a notification is pending or the connection has
    /// closed. Owned by the backend (borrowed by the caller); stable for the connection's lifetime.
    var notificationDescriptor: FileDescriptor { get }
    /// The next pending driver notification, or nil if none. CONNECTION_LOST once the
    /// connection has closed and nothing is left to read.
    func readNotification() throws(MagmaError) -> [UInt8]?
    /// The connection's error as a waiter on the notification channel sees it: `error`, or,
    /// once the device has hung up the notification channel, CONNECTION_LOST.
    var notificationChannelError: MagmaError? { get }
    /// Ends the connection; the device releases everything it held for it. Called once by
    /// `Connection`, and again (harmlessly) at deinit.
    func close()
}

extension ConnectionBackend {
    /// `error`: a backend whose error is current whenever its failure descriptor is ready.
    public var errorAfterWake: MagmaError? { error }

    /// UNIMPLEMENTED: the device is not in this process, so memory of this process cannot be
    /// its buffer.
    public func adoptBuffer(_ memory: SharedMemory, memoryType: UInt32) throws(MagmaError) -> any BackendBuffer {
        throw .unimplemented("adopting memory of this process: this backend's device is not in this process")
    }

    /// No sync_files: a backend whose semaphores are not kernel fences (the embedded and
    /// magmad backends) takes these defaults.
    public var hasSyncFiles: Bool { false }

    /// UNIMPLEMENTED: the backend has no sync_files.
    public func exportSyncFile(of semaphore: any BackendSemaphore) throws(MagmaError) -> OwnedFileDescriptor {
        throw .unimplemented("sync_file export: this backend's semaphores hold no kernel fence")
    }

    /// UNIMPLEMENTED: the backend has no sync_files.
    public func importSyncFile(_ syncFile: OwnedFileDescriptor, into semaphore: any BackendSemaphore) throws(MagmaError) {
        throw .unimplemented("sync_file import: this backend's semaphores hold no kernel fence")
    }
}
