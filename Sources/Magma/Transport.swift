import MagmaPlatform
import MagmaProtocol

/// What a device query returned.
public enum QueryAnswer: Sendable {
    /// A number.
    case value(UInt64)
    /// Bytes in a buffer; map `memory.base` to read them.
    case buffer(SharedMemory)
}

/// How a client reaches a device. The in-process transport is the first implementation; the
/// socket and virtio transports implement the same two protocols.
public protocol DeviceTransport: Sendable {
    /// Answers a query synchronously.
    func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer
    /// Opens a connection.
    func connect() throws(MagmaError) -> any ConnectionTransport
    /// The token that grants performance-counter access, for clients allowed to have it
    /// (ACCESS_DENIED otherwise).
    func performanceCounterToken() throws(MagmaError) -> OwnedFileDescriptor
}

/// The client side of one connection: the Primary protocol (feed-forward requests, plus the
/// synchronous flush) and the Notification channel.
///
/// Requests do not report the server's verdict: a rejected request closes the connection and
/// the error shows in `error`, `flush()` and every later request.
public protocol ConnectionTransport: AnyObject, Sendable {
    func importBuffer(id: ObjectId, memory: SharedMemory)
    func releaseBuffer(id: ObjectId)
    func importSemaphore(id: ObjectId, event: EventSemaphore, flags: ImportSemaphoreFlags)
    func releaseSemaphore(id: ObjectId)
    func createContext(id: UInt32, priority: Priority)
    func destroyContext(id: UInt32)
    func mapBuffer(gpuAddress: UInt64, bufferId: ObjectId, offset: UInt64, length: UInt64, flags: MapFlags)
    func unmapBuffer(gpuAddress: UInt64, bufferId: ObjectId)
    func bufferRangeOp(bufferId: ObjectId, op: BufferRangeOp, offset: UInt64, length: UInt64)
    func executeCommand(contextId: UInt32, descriptor: CommandDescriptor)
    /// Sends inline commands, split into messages below the protocol's size bound.
    func executeInlineCommands(contextId: UInt32, commands: [InlineCommand])
    /// Presents a performance-counter access token; a wrong one is ignored.
    func enablePerformanceCounterAccess(token: OwnedFileDescriptor)
    /// Round trip: whether performance-counter access has been granted.
    func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool
    func enablePerformanceCounters(_ counters: [UInt64])
    func clearPerformanceCounters(_ counters: [UInt64])
    /// Creates a pool; its completion events arrive through the returned source.
    func createPerformanceCounterPool(id: UInt64) throws(MagmaError) -> any PerformanceCounterEventSource
    func releasePerformanceCounterPool(id: UInt64)
    func addPerformanceCounterBufferRanges(pool: UInt64, ranges: [BufferRange])
    func removePerformanceCounterBuffer(pool: UInt64, bufferId: ObjectId)
    func dumpPerformanceCounters(pool: UInt64, triggerId: UInt32)

    /// Round trip: every earlier request has been observed. Returns the connection's error.
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

    /// Ends the connection; the server releases everything it held for it.
    func close()
}

/// Where a performance-counter pool's completion events arrive, on the client side.
public protocol PerformanceCounterEventSource: Sendable {
    /// Polls readable while a completion is waiting.
    var descriptor: Int32 { get }
    /// The next completion, or nil if none is waiting.
    func next() throws(MagmaError) -> PerformanceCounterCompletion?
}
