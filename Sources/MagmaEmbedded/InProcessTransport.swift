import Magma
import MagmaPlatform
import MagmaPrimary
import MagmaProtocol
import MagmaSystem

/// The embedded backend: a MagmaSystem device, with the driver the program chose, in this
/// process. Requests become direct calls, with no encoding.
public struct InProcessDeviceTransport: DeviceBackend {
    /// The system device served.
    public let system: SystemDevice
    /// Trust given to connections (in-process clients are the system's own: trusted).
    public let trust: ClientTrust

    /// Serves `system` to connections of `trust`.
    public init(system: SystemDevice, trust: ClientTrust = .trusted) {
        self.system = system
        self.trust = trust
    }

    public func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer {
        try system.query(id)
    }

    public func performanceCounterToken() throws(MagmaError) -> OwnedFileDescriptor {
        do { return try system.performanceCounterToken.descriptor.duplicate() } catch { throw .memoryError("\(error)") }
    }

    public func connect() throws(MagmaError) -> any ConnectionBackend {
        let queue: NotificationQueue
        do { queue = try NotificationQueue() } catch { throw .internalError("\(error)") }
        let connection = try system.openConnection(trust: trust, sink: queue)
        return PrimaryConnection(transport: InProcessConnectionTransport(connection: connection, notifications: queue))
    }
}

/// One in-process connection: the primary protocol's requests as direct calls on its
/// `SystemConnection`.
final class InProcessConnectionTransport: PrimaryTransport {
    private let connection: SystemConnection
    private let notifications: NotificationQueue

    init(connection: SystemConnection, notifications: NotificationQueue) {
        self.connection = connection
        self.notifications = notifications
    }

    func importBuffer(id: ObjectId, memory: SharedMemory) { connection.importBuffer(id: id, memory: memory) }
    func releaseBuffer(id: ObjectId) { connection.releaseBuffer(id: id) }
    func importSemaphore(id: ObjectId, event: EventSemaphore, flags: ImportSemaphoreFlags) {
        connection.importSemaphore(id: id, event: event, flags: flags)
    }
    func releaseSemaphore(id: ObjectId) { connection.releaseSemaphore(id: id) }
    func createContext(id: UInt32, priority: Priority) { connection.createContext(id: id, priority: priority) }
    func destroyContext(id: UInt32) { connection.destroyContext(id: id) }
    func mapBuffer(gpuAddress: UInt64, bufferId: ObjectId, offset: UInt64, length: UInt64, flags: MapFlags) {
        connection.mapBuffer(gpuAddress: gpuAddress, bufferId: bufferId, offset: offset, length: length, flags: flags)
    }
    func unmapBuffer(gpuAddress: UInt64, bufferId: ObjectId) { connection.unmapBuffer(gpuAddress: gpuAddress, bufferId: bufferId) }
    func bufferRangeOp(bufferId: ObjectId, op: BufferRangeOp, offset: UInt64, length: UInt64) {
        connection.bufferRangeOp(bufferId: bufferId, op: op, offset: offset, length: length)
    }
    func executeCommand(contextId: UInt32, descriptor: CommandDescriptor) {
        connection.executeCommand(contextId: contextId, descriptor: descriptor)
    }
    func executeInlineCommands(contextId: UInt32, commands: [InlineCommand]) {
        connection.executeInlineCommands(contextId: contextId, commands: commands)
    }

    func enablePerformanceCounterAccess(token: OwnedFileDescriptor) {
        do { connection.enablePerformanceCounterAccess(token: try FileIdentity(of: token.rawValue)) } catch {
            connection.fail(.invalidArgs("performance-counter token: \(error)"))
        }
    }

    func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool {
        if let error = connection.error { throw error }
        return connection.isPerformanceCounterAccessAllowed
    }

    func enablePerformanceCounters(_ counters: [UInt64]) { connection.enablePerformanceCounters(counters) }
    func clearPerformanceCounters(_ counters: [UInt64]) { connection.clearPerformanceCounters(counters) }
    func createPerformanceCounterPool(id: UInt64) throws(MagmaError) -> any PerformanceCounterEventSource {
        let queue = try CompletionQueue()
        connection.createPerformanceCounterPool(id: id, sink: queue)
        return queue
    }
    func releasePerformanceCounterPool(id: UInt64) { connection.releasePerformanceCounterPool(id: id) }
    func addPerformanceCounterBufferRanges(pool: UInt64, ranges: [BufferRange]) {
        connection.addPerformanceCounterBufferRanges(pool: pool, ranges: ranges)
    }
    func removePerformanceCounterBuffer(pool: UInt64, bufferId: ObjectId) {
        connection.removePerformanceCounterBuffer(pool: pool, bufferId: bufferId)
    }
    func dumpPerformanceCounters(pool: UInt64, triggerId: UInt32) { connection.dumpPerformanceCounters(pool: pool, triggerId: triggerId) }

    func flush() -> MagmaError? { connection.flush() }
    var error: MagmaError? { connection.error }

    var failureDescriptor: Int32 { notifications.ended.descriptor.rawValue }

    var notificationDescriptor: Int32 { notifications.readiness.descriptor.rawValue }
    func readNotification() throws(MagmaError) -> [UInt8]? { try notifications.read() }
    var notificationChannelError: MagmaError? { connection.error }

    func close() {
        connection.close()
        notifications.ended.signal()
    }
}
