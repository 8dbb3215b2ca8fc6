import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaWire

/// A decoded primary-channel request with the descriptors that came with it, applied to a
/// `SystemConnection`: what the server does with each request (public for the fuzzers).
public struct PrimaryRequest {
    public let message: PrimaryProtocol.ClientMessage
    public let descriptors: [OwnedFileDescriptor]

    public init(message: PrimaryProtocol.ClientMessage, descriptors: [OwnedFileDescriptor]) {
        self.message = message
        self.descriptors = descriptors
    }

    /// Applies the request: the generated dispatch (`PrimaryProtocol.ClientMessage.dispatch(to:)`)
    /// calls `SystemRequests` with the descriptors that arrived as its handles. Returns the
    /// bytes of memory it imported, for flow control. A request the system rejects closes the
    /// connection, as everywhere; calls (flush, the access check) are the served connection's.
    public func apply(to connection: SystemConnection) -> UInt64 {
        let requests = SystemRequests(connection: connection, resolver: ArrivedDescriptors(descriptors: descriptors))
        _ = message.dispatch(to: requests)
        return requests.importedBytes
    }
}

/// The handles of a request that came over a socket: descriptor numbers of the descriptors
/// that arrived beside it.
struct ArrivedDescriptors: SystemHandleResolver {
    let descriptors: [OwnedFileDescriptor]

    private func descriptor(_ handle: WireHandle, _ what: String) throws(MagmaError) -> OwnedFileDescriptor {
        guard let descriptor = descriptors.owning(handle.descriptor) else { throw .internalError("\(what) did not arrive") }
        return descriptor
    }

    func memory(_ handle: WireHandle) throws(MagmaError) -> SharedMemory {
        let descriptor = try descriptor(handle, "the buffer's descriptor")
        do { return try SharedMemory.importing(descriptor) } catch { throw .invalidArgs("buffer is not a size-sealed memfd: \(error)") }
    }

    func event(_ handle: WireHandle) throws(MagmaError) -> EventSemaphore {
        let descriptor = try descriptor(handle, "the semaphore's descriptor")
        do { return try EventSemaphore(importing: descriptor) } catch { throw .invalidArgs("semaphore is not an eventfd: \(error)") }
    }

    func timeline(_ handle: WireHandle) throws(MagmaError) -> Timeline {
        let descriptor = try descriptor(handle, "the timeline's descriptor")
        do { return try Timeline.importing(descriptor) } catch { throw .invalidArgs("timeline is not a sealed one-page timeline memfd: \(error)") }
    }

    func identity(_ handle: WireHandle) throws(MagmaError) -> FileIdentity {
        do { return try FileIdentity(of: handle.descriptor) } catch { throw .invalidArgs("performance-counter token: \(error)") }
    }

    func completionSink(_ handle: WireHandle) throws(MagmaError) -> any PerformanceCounterEventSink {
        SocketCompletionSink(socket: MessageSocket(adopting: try descriptor(handle, "the pool channel")))
    }
}

/// Sends a pool's completions to the client on the pool's channel. A client that does not read
/// them loses the ones that do not fit; the channel never blocks the server.
final class SocketCompletionSink: PerformanceCounterEventSink {
    private let socket: MessageSocket

    init(socket: MessageSocket) { self.socket = socket }

    deinit { socket.shutdown() }

    func readCompleted(_ completion: PerformanceCounterCompletion) {
        let event = PerformanceCounterEventsProtocol.OnPerformanceCounterReadCompleted(
            triggerId: completion.triggerId, bufferOffset: completion.bufferOffset, bufferId: completion.bufferId,
            timestamp: completion.timestamp, flags: completion.flags)
        guard let encoded = try? event.encoded() else { return }
        try? socket.send(encoded.bytes, wait: false)
    }
}
