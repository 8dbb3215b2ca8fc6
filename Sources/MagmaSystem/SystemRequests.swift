import MagmaPlatform
import MagmaProtocol
import Synchronization

/// Turns the handles of primary-protocol requests into the objects MagmaSystem takes: what
/// differs between a server (descriptors that arrived beside a message) and the in-process
/// backend (objects the client made). A handle that is not what the request says throws; the
/// request then fails the connection.
public protocol SystemHandleResolver: Sendable {
    /// How the requests carry handles.
    associatedtype Handle
    /// The memory of a buffer import (a size-sealed memfd).
    func memory(_ handle: Handle) throws(MagmaError) -> SharedMemory
    /// The event of a semaphore import (an eventfd).
    func event(_ handle: Handle) throws(MagmaError) -> EventSemaphore
    /// The shared page of a timeline import (a sealed one-page timeline memfd).
    func timeline(_ handle: Handle) throws(MagmaError) -> Timeline
    /// The identity of a performance-counter access token.
    func identity(_ handle: Handle) throws(MagmaError) -> FileIdentity
    /// Where a new pool's completions go.
    func completionSink(_ handle: Handle) throws(MagmaError) -> any PerformanceCounterEventSink
}

/// The primary protocol's requests (the generated `PrimaryRequests`) applied to a
/// `SystemConnection`: the one implementation both the in-process backend and magmad's server
/// use, with the handle conversion their resolver gives.
public final class SystemRequests<Resolver: SystemHandleResolver>: PrimaryRequests, Sendable {
    public typealias Handle = Resolver.Handle

    private let connection: SystemConnection
    private let resolver: Resolver
    private let imported = Atomic<UInt64>(0)

    /// Requests for `connection`, with handles converted by `resolver`.
    public init(connection: SystemConnection, resolver: Resolver) {
        self.connection = connection
        self.resolver = resolver
    }

    /// Bytes of buffer memory imported through these requests so far (for flow control).
    public var importedBytes: UInt64 { imported.load(ordering: .relaxed) }

    public func importObject(object: Handle, objectType: ObjectType, objectId: UInt64, flags: ImportSemaphoreFlags) {
        do throws(MagmaError) {
            switch objectType {
            case .buffer:
                guard flags.isEmpty else { throw MagmaError.invalidArgs("import flags \(flags.rawValue) apply to semaphores only") }
                let memory = try resolver.memory(object)
                connection.importBuffer(id: objectId, memory: memory)
                imported.add(UInt64(memory.size), ordering: .relaxed)
            case .semaphore:
                connection.importSemaphore(id: objectId, event: try resolver.event(object), flags: flags)
            case .timeline:
                guard flags.isEmpty else { throw MagmaError.invalidArgs("import flags \(flags.rawValue) apply to semaphores only") }
                connection.importTimeline(id: objectId, timeline: try resolver.timeline(object))
            }
        } catch { connection.fail(error) }
    }

    public func releaseObject(objectId: UInt64, objectType: ObjectType) {
        switch objectType {
        case .buffer: connection.releaseBuffer(id: objectId)
        case .semaphore: connection.releaseSemaphore(id: objectId)
        case .timeline: connection.releaseTimeline(id: objectId)
        }
    }

    public func createContext(contextId: UInt32, priority: Priority, queueFamily: UInt32) {
        connection.createContext(id: contextId, priority: priority, queueFamily: queueFamily)
    }

    public func destroyContext(contextId: UInt32) { connection.destroyContext(id: contextId) }

    public func executeCommand(contextId: UInt32, resources: [BufferRange], commandBuffers: [CommandBufferEntry],
                               waitSemaphores: [UInt64], signalSemaphores: [UInt64], flags: UInt64,
                               waitTimelinePoints: [TimelinePoint], signalTimelinePoints: [TimelinePoint]) {
        connection.executeCommand(contextId: contextId, descriptor: CommandDescriptor(
            resources: resources, commandBuffers: commandBuffers, waitSemaphores: waitSemaphores, signalSemaphores: signalSemaphores, flags: flags,
            waitTimelinePoints: waitTimelinePoints, signalTimelinePoints: signalTimelinePoints))
    }

    /// More than one message's worth (which `InlineCommandBatching.batches` never sends) is
    /// INVALID_ARGS.
    public func executeInlineCommands(contextId: UInt32, commands: [InlineCommand]) {
        guard InlineCommandBatching.fitsOneMessage(commands) else {
            connection.fail(.invalidArgs("inline commands pass the \(InlineCommandBatching.maxMessageDataSize)-byte budget of one message"))
            return
        }
        connection.executeInlineCommands(contextId: contextId, commands: commands)
    }

    public func mapBuffer(gpuAddress: UInt64, range: BufferRange, flags: MapFlags) {
        connection.mapBuffer(gpuAddress: gpuAddress, bufferId: range.bufferId, offset: range.offset, length: range.length, flags: flags)
    }

    public func unmapBuffer(gpuAddress: UInt64, bufferId: UInt64) { connection.unmapBuffer(gpuAddress: gpuAddress, bufferId: bufferId) }

    public func bufferRangeOp(op: BufferOp, range: BufferRange) {
        let op: BufferRangeOp = op == .populateTables ? .populateTables : .depopulateTables
        connection.bufferRangeOp(bufferId: range.bufferId, op: op, offset: range.offset, length: range.length)
    }

    /// Flow control is the transport's (magmad's served connection); the system has none.
    public func enableFlowControl() {}

    public func enablePerformanceCounterAccess(accessToken: Handle) {
        do { connection.enablePerformanceCounterAccess(token: .file(try resolver.identity(accessToken))) } catch { connection.fail(error) }
    }

    public func enablePerformanceCounters(counters: [UInt64]) { connection.enablePerformanceCounters(counters) }

    public func createPerformanceCounterBufferPool(poolId: UInt64, eventChannel: Handle) {
        do { connection.createPerformanceCounterPool(id: poolId, sink: try resolver.completionSink(eventChannel)) } catch { connection.fail(error) }
    }

    public func releasePerformanceCounterBufferPool(poolId: UInt64) { connection.releasePerformanceCounterPool(id: poolId) }

    public func addPerformanceCounterBufferOffsetsToPool(poolId: UInt64, offsets: [BufferRange]) {
        connection.addPerformanceCounterBufferRanges(pool: poolId, ranges: offsets)
    }

    public func removePerformanceCounterBufferFromPool(poolId: UInt64, bufferId: UInt64) {
        connection.removePerformanceCounterBuffer(pool: poolId, bufferId: bufferId)
    }

    public func dumpPerformanceCounters(poolId: UInt64, triggerId: UInt32) { connection.dumpPerformanceCounters(pool: poolId, triggerId: triggerId) }

    public func clearPerformanceCounters(counters: [UInt64]) { connection.clearPerformanceCounters(counters) }

    public func executeCommandAtAddress(contextId: UInt32, gpuAddress: UInt64, length: UInt64, waitSemaphores: [UInt64],
                                        signalSemaphores: [UInt64], flags: UInt64,
                                        waitTimelinePoints: [TimelinePoint], signalTimelinePoints: [TimelinePoint]) {
        connection.executeCommand(contextId: contextId, at: GpuAddressCommand(
            gpuAddress: gpuAddress, length: length, waitSemaphores: waitSemaphores, signalSemaphores: signalSemaphores, flags: flags,
            waitTimelinePoints: waitTimelinePoints, signalTimelinePoints: signalTimelinePoints))
    }

    public func bind(contextId: UInt32, operations: [BindOperation], waitSemaphores: [UInt64], signalSemaphores: [UInt64],
                     waitTimelinePoints: [TimelinePoint], signalTimelinePoints: [TimelinePoint]) {
        connection.bind(contextId: contextId, BindSubmission(
            operations: operations, waitSemaphores: waitSemaphores, signalSemaphores: signalSemaphores,
            waitTimelinePoints: waitTimelinePoints, signalTimelinePoints: signalTimelinePoints))
    }
}
