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

    /// Applies the request. Returns the bytes of memory it imported, for flow control. A request
    /// the system rejects closes the connection, as everywhere.
    public func apply(to connection: SystemConnection) -> UInt64 {
        switch message {
        case .importObject(let request):
            return importObject(request, into: connection)
        case .releaseObject(let request):
            switch request.objectType {
            case .buffer: connection.releaseBuffer(id: request.objectId)
            case .semaphore: connection.releaseSemaphore(id: request.objectId)
            }
        case .createContext(let request):
            connection.createContext(id: request.contextId, priority: request.priority)
        case .destroyContext(let request):
            connection.destroyContext(id: request.contextId)
        case .executeCommand(let request):
            connection.executeCommand(contextId: request.contextId, descriptor: CommandDescriptor(
                resources: request.resources, commandBuffers: request.commandBuffers,
                waitSemaphores: request.waitSemaphores, signalSemaphores: request.signalSemaphores, flags: request.flags))
        case .executeInlineCommands(let request):
            guard InlineCommandBatching.fitsOneMessage(request.commands) else {
                connection.fail(.invalidArgs("inline commands pass the \(InlineCommandBatching.maxMessageDataSize)-byte budget of one message"))
                return 0
            }
            connection.executeInlineCommands(contextId: request.contextId, commands: request.commands)
        case .mapBuffer(let request):
            connection.mapBuffer(gpuAddress: request.gpuAddress, bufferId: request.range.bufferId,
                                 offset: request.range.offset, length: request.range.length, flags: request.flags)
        case .unmapBuffer(let request):
            connection.unmapBuffer(gpuAddress: request.gpuAddress, bufferId: request.bufferId)
        case .bufferRangeOp(let request):
            let op: BufferRangeOp = request.op == .populateTables ? .populateTables : .depopulateTables
            connection.bufferRangeOp(bufferId: request.range.bufferId, op: op, offset: request.range.offset, length: request.range.length)
        case .enablePerformanceCounterAccess(let request):
            do {
                connection.enablePerformanceCounterAccess(token: try FileIdentity(of: request.accessToken.descriptor))
            } catch {
                connection.fail(.invalidArgs("performance-counter token: \(error)"))
            }
        case .enablePerformanceCounters(let request):
            connection.enablePerformanceCounters(request.counters)
        case .clearPerformanceCounters(let request):
            connection.clearPerformanceCounters(request.counters)
        case .createPerformanceCounterBufferPool(let request):
            guard let channel = descriptors.owning(request.eventChannel.descriptor) else {
                connection.fail(.internalError("pool channel did not arrive"))
                return 0
            }
            connection.createPerformanceCounterPool(id: request.poolId, sink: SocketCompletionSink(socket: MessageSocket(adopting: channel)))
        case .releasePerformanceCounterBufferPool(let request):
            connection.releasePerformanceCounterPool(id: request.poolId)
        case .addPerformanceCounterBufferOffsetsToPool(let request):
            connection.addPerformanceCounterBufferRanges(pool: request.poolId, ranges: request.offsets)
        case .removePerformanceCounterBufferFromPool(let request):
            connection.removePerformanceCounterBuffer(pool: request.poolId, bufferId: request.bufferId)
        case .dumpPerformanceCounters(let request):
            connection.dumpPerformanceCounters(pool: request.poolId, triggerId: request.triggerId)
        case .flush, .isPerformanceCounterAccessAllowed, .enableFlowControl:
            break  // answered or recorded by the served connection
        }
        return 0
    }

    private func importObject(_ request: PrimaryProtocol.ImportObject, into connection: SystemConnection) -> UInt64 {
        guard let descriptor = descriptors.owning(request.object.descriptor) else {
            connection.fail(.internalError("import names a descriptor that did not arrive"))
            return 0
        }
        switch request.objectType {
        case .buffer:
            guard request.flags.isEmpty else {
                connection.fail(.invalidArgs("import flags \(request.flags.rawValue) apply to semaphores only"))
                return 0
            }
            do {
                let memory = try SharedMemory.importing(descriptor)
                connection.importBuffer(id: request.objectId, memory: memory)
                return UInt64(memory.size)
            } catch {
                connection.fail(.invalidArgs("buffer \(request.objectId) is not a size-sealed memfd: \(error)"))
            }
        case .semaphore:
            do {
                connection.importSemaphore(id: request.objectId, event: try EventSemaphore(importing: descriptor), flags: request.flags)
            } catch {
                connection.fail(.invalidArgs("semaphore \(request.objectId) is not an eventfd: \(error)"))
            }
        }
        return 0
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
