import Magma
import MagmaPlatform
import MagmaProtocol

/// The client end of one connection of Fuchsia's primary protocol (protocol/magma.json): the
/// feed-forward requests, the synchronous calls, and the notification channel. MagmaEmbedded
/// carries it by direct calls into MagmaSystem, MagmaSocket over a Unix socket; both sit under
/// `PrimaryConnection`, which makes the objects and ids these requests name.
///
/// Requests never report the system's verdict: a rejected one closes the connection and the
/// error shows in `error`, `flush()` and every later request.
public protocol PrimaryTransport: AnyObject, Sendable {
    /// ImportObject (buffer): registers `memory` (a size-sealed memfd) as buffer `id`.
    func importBuffer(id: ObjectId, memory: SharedMemory)
    /// ReleaseObject (buffer): forgets buffer `id` and its mappings.
    func releaseBuffer(id: ObjectId)
    /// ImportObject (semaphore): registers `event` (an eventfd) as semaphore `id`.
    func importSemaphore(id: ObjectId, event: EventSemaphore, flags: ImportSemaphoreFlags)
    /// ReleaseObject (semaphore): forgets semaphore `id`.
    func releaseSemaphore(id: ObjectId)
    /// CreateContext: a context `id` with `priority`.
    func createContext(id: UInt32, priority: Priority)
    /// DestroyContext: abandons context `id` and its queued work.
    func destroyContext(id: UInt32)
    /// MapBuffer: maps `length` bytes of buffer `bufferId` from `offset` at `gpuAddress`.
    func mapBuffer(gpuAddress: UInt64, bufferId: ObjectId, offset: UInt64, length: UInt64, flags: MapFlags)
    /// UnmapBuffer: removes the mapping of buffer `bufferId` at `gpuAddress`.
    func unmapBuffer(gpuAddress: UInt64, bufferId: ObjectId)
    /// BufferRangeOp: POPULATE_TABLES or DEPOPULATE_TABLES of a range (COMMIT and DECOMMIT are
    /// the client's own, in `PrimaryConnection`).
    func bufferRangeOp(bufferId: ObjectId, op: BufferRangeOp, offset: UInt64, length: UInt64)
    /// ExecuteCommand: submits `descriptor` on context `contextId`.
    func executeCommand(contextId: UInt32, descriptor: CommandDescriptor)
    /// ExecuteInlineCommands: one message's worth of inline commands (below the protocol's
    /// size bound; `PrimaryConnection` splits longer lists).
    func executeInlineCommands(contextId: UInt32, commands: [InlineCommand])
    /// EnablePerformanceCounterAccess: presents a token; a wrong one is ignored.
    func enablePerformanceCounterAccess(token: OwnedFileDescriptor)
    /// IsPerformanceCounterAccessAllowed: a round trip.
    func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool
    /// EnablePerformanceCounters: selects the counters dumps write.
    func enablePerformanceCounters(_ counters: [UInt64])
    /// ClearPerformanceCounters: sets the selected counters to zero.
    func clearPerformanceCounters(_ counters: [UInt64])
    /// CreatePerformanceCounterBufferPool: pool `id`; its completion events arrive through the
    /// returned source.
    func createPerformanceCounterPool(id: UInt64) throws(MagmaError) -> any PerformanceCounterEventSource
    /// ReleasePerformanceCounterBufferPool: no completions of pool `id` follow.
    func releasePerformanceCounterPool(id: UInt64)
    /// AddPerformanceCounterBufferOffsetsToPool.
    func addPerformanceCounterBufferRanges(pool: UInt64, ranges: [BufferRange])
    /// RemovePerformanceCounterBufferFromPool.
    func removePerformanceCounterBuffer(pool: UInt64, bufferId: ObjectId)
    /// DumpPerformanceCounters: into pool `pool`'s next range, reported with `triggerId`.
    func dumpPerformanceCounters(pool: UInt64, triggerId: UInt32)

    /// Flush: a round trip after which every earlier request has been observed. Returns the
    /// connection's error.
    func flush() -> MagmaError?
    /// The connection's error as known now, without a round trip.
    var error: MagmaError? { get }
    /// A descriptor that polls readable once the connection has failed or closed, and stays
    /// readable from then on. It may also poll readable while the connection is healthy (a
    /// transport may use its primary channel), so a waiter checks `error` when it does.
    /// Owned by the transport.
    var failureDescriptor: Int32 { get }
    /// A descriptor that polls readable while a notification is pending or the connection has
    /// closed. Owned by the transport.
    var notificationDescriptor: Int32 { get }
    /// The next pending notification, or nil if none. CONNECTION_LOST once the connection has
    /// closed and nothing is left to read.
    func readNotification() throws(MagmaError) -> [UInt8]?
    /// The connection's error as a waiter on the notification channel sees it: `error`, or,
    /// once the server has hung up the notification channel, CONNECTION_LOST (which then
    /// becomes the connection's error: the server ends that channel only with the connection).
    var notificationChannelError: MagmaError? { get }
    /// Ends the connection; the system releases everything it held for it.
    func close()
}

/// Where a performance-counter pool's completion events arrive, on the client side.
public protocol PerformanceCounterEventSource: Sendable {
    /// Polls readable while a completion is waiting.
    var descriptor: Int32 { get }
    /// The next completion, or nil if none is waiting.
    func next() throws(MagmaError) -> PerformanceCounterCompletion?
}
