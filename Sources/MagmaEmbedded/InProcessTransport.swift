import Magma
import MagmaPlatform
import MagmaPrimary
import MagmaProtocol
import MagmaSystem
import SystemPackage

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

    public func physicalDeviceInfo() throws(MagmaError) -> PhysicalDeviceInfo { system.info }

    public func performanceCounterToken() throws(MagmaError) -> OwnedFileDescriptor {
        guard let token = system.performanceCounterToken.descriptor else { throw .internalError("the performance-counter token has no descriptor") }
        do { return try token.duplicate() } catch { throw .memoryError("\(error)") }
    }

    public func connect() throws(MagmaError) -> any ConnectionBackend {
        let queue: NotificationQueue
        do { queue = try NotificationQueue() } catch { throw .internalError("\(error)") }
        let connection = try system.openConnection(trust: trust, sink: queue)
        return PrimaryConnection(requests: SystemRequests(connection: connection, resolver: ClientObjects()),
                                 transport: InProcessConnectionTransport(connection: connection, notifications: queue),
                                 acceptsDMABuf: true, adoptsProcessMemory: true, memoryTypes: system.info.memoryProperties.types)
    }
}

/// The handles of in-process requests: the objects the client made, as they are.
struct ClientObjects: SystemHandleResolver {
    func memory(_ handle: PrimaryHandle) throws(MagmaError) -> SharedMemory {
        guard case .buffer(let memory) = handle else { throw .invalidArgs("a buffer import carries no memory") }
        return memory
    }

    func event(_ handle: PrimaryHandle) throws(MagmaError) -> EventSemaphore {
        guard case .semaphore(let event) = handle else { throw .invalidArgs("a semaphore import carries no eventfd") }
        return event
    }

    func timeline(_ handle: PrimaryHandle) throws(MagmaError) -> Timeline {
        guard case .timeline(let timeline) = handle else { throw .invalidArgs("a timeline import carries no timeline") }
        return timeline
    }

    func identity(_ handle: PrimaryHandle) throws(MagmaError) -> FileIdentity {
        guard case .descriptor(let token) = handle else { throw .invalidArgs("performance-counter token: not a descriptor") }
        do { return try FileIdentity(of: token.fileDescriptor) } catch { throw .invalidArgs("performance-counter token: \(error)") }
    }

    func completionSink(_ handle: PrimaryHandle) throws(MagmaError) -> any PerformanceCounterEventSink {
        guard case .local(let object) = handle, let sink = object as? any PerformanceCounterEventSink else {
            throw .internalError("an in-process pool's channel is its completion queue")
        }
        return sink
    }
}

/// One in-process connection's calls, notifications and lifetime (its requests go straight to
/// `SystemRequests`).
final class InProcessConnectionTransport: PrimaryTransport {
    private let connection: SystemConnection
    private let notifications: NotificationQueue

    init(connection: SystemConnection, notifications: NotificationQueue) {
        self.connection = connection
        self.notifications = notifications
    }

    func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool {
        if let error = connection.error { throw error }
        return connection.isPerformanceCounterAccessAllowed
    }

    func importBuffer(_ memory: SharedMemory, id: ObjectId, memoryType: UInt32) throws(MagmaError) {
        try connection.importBuffer(id: id, memory: memory, memoryType: memoryType)
    }

    func memoryBudget(heap: UInt32) throws(MagmaError) -> MemoryBudget { try connection.memoryBudget(heap: heap) }

    func makePerformanceCounterChannel() throws(MagmaError) -> (handle: PrimaryHandle, events: any PerformanceCounterEventSource) {
        let queue = try CompletionQueue()
        return (.local(queue), queue)
    }

    func flush() -> MagmaError? { connection.flush() }
    var error: MagmaError? { connection.error }

    var failureDescriptor: FileDescriptor { notifications.ended.descriptor.fileDescriptor }

    var notificationDescriptor: FileDescriptor { notifications.readiness.descriptor.fileDescriptor }
    func readNotification() throws(MagmaError) -> [UInt8]? { try notifications.read() }
    var notificationChannelError: MagmaError? { connection.error }

    func close() {
        connection.close()
        notifications.ended.signal()
    }
}
