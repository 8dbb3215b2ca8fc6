import Magma
import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// A handle a primary-protocol request carries, as the client holds it: the object, kept
/// alive until the request has been sent or applied.
public enum PrimaryHandle: Sendable {
    /// A buffer's memory (a size-sealed memfd; in-process, possibly an imported dma-buf).
    case buffer(SharedMemory)
    /// A semaphore's eventfd.
    case semaphore(EventSemaphore)
    /// A timeline's shared page (a sealed one-page memfd).
    case timeline(Timeline)
    /// A descriptor: a performance-counter access token, or a pool's event channel (a socket).
    case descriptor(OwnedFileDescriptor)
    /// An object of the transport's own that never leaves the process (an in-process pool's
    /// completion queue).
    case local(any Sendable)
}

/// The client end of one connection of Fuchsia's primary protocol (protocol/magma.json), beside
/// the requests (the generated `PrimaryRequests`, which a `PrimaryConnection` sends to its
/// `requests`): the synchronous calls, the notification channel, the connection's error and its
/// end. MagmaEmbedded's is in-process; MagmaSocket's runs over a Unix socket.
public protocol PrimaryTransport: AnyObject, Sendable {
    /// IsPerformanceCounterAccessAllowed: a round trip.
    func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool
    /// A new channel for a performance-counter pool's completion events: the handle
    /// CreatePerformanceCounterBufferPool carries, and the client's end of it.
    func makePerformanceCounterChannel() throws(MagmaError) -> (handle: PrimaryHandle, events: any PerformanceCounterEventSource)

    /// ImportBuffer: imports `memory` under `id` as memory of type `memoryType`, a round trip
    /// (the heap budget is the device's, so only the device can say whether it fits). Throws
    /// the refusal (MEMORY_ERROR past the budget, INVALID_ARGS for an unknown type) with the
    /// connection still usable, or the connection's error once it has failed.
    func importBuffer(_ memory: SharedMemory, id: ObjectId, memoryType: UInt32) throws(MagmaError)
    /// GetMemoryBudget: heap `heap` as this connection sees it, a round trip.
    func memoryBudget(heap: UInt32) throws(MagmaError) -> MemoryBudget

    /// Flush: a round trip after which every earlier request has been observed. Returns the
    /// connection's error.
    func flush() -> MagmaError?
    /// The connection's error as known now, without a round trip.
    var error: MagmaError? { get }
    /// `ConnectionBackend.errorAfterWake`: the error, looking at the channel itself if an
    /// arrival may not have reached `error` yet.
    var errorAfterWake: MagmaError? { get }
    /// A descriptor that polls readable once the connection has failed or closed, and stays
    /// readable from then on. It may also poll readable while the connection is healthy (a
    /// transport may use its primary channel), so a waiter checks `error` when it does.
    /// Owned by the transport (borrowed by the caller).
    var failureDescriptor: FileDescriptor { get }
    /// A descriptor that polls readable while a notification is pending or the connection has
    /// closed. Owned by the transport (borrowed by the caller).
    var notificationDescriptor: FileDescriptor { get }
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
    /// Polls readable while a completion is waiting. Owned by the source (borrowed by the caller).
    var descriptor: FileDescriptor { get }
    /// The next completion, or nil if none is waiting.
    func next() throws(MagmaError) -> PerformanceCounterCompletion?
}

extension PrimaryTransport {
    /// `error`: a transport whose error is current whenever its failure descriptor is ready
    /// (the in-process one).
    public var errorAfterWake: MagmaError? { error }
}
