import MagmaProtocol
import MagmaSystem
import Synchronization

/// One client's SoftGPU state: its address space and its notification route.
final class SoftGPUConnection: MsdConnection {
    let space = AddressSpace()
    /// This connection's turns on the engine, shared by its contexts.
    let client = Engine.Client()
    private let engine: Engine
    private let notifications: any MsdNotificationHandler
    private let nextSequence = Atomic<UInt64>(1)
    private let live = Atomic<Bool>(true)

    init(engine: Engine, notifications: any MsdNotificationHandler) {
        self.engine = engine
        self.notifications = notifications
    }

    /// False once released or killed by a fault: its queued work is skipped and its running
    /// work stops.
    var isLive: Bool { live.load(ordering: .acquiring) }

    func createContext(priority: Priority) throws(MagmaError) -> any MsdContext {
        SoftGPUContext(connection: self, engine: engine, priority: priority)
    }

    func map(_ mapping: GpuMapping) throws(MagmaError) { space.map(mapping) }

    func unmap(_ mapping: GpuMapping) { space.unmap(mapping) }

    func updatePageTables(_ op: BufferRangeOp, mapping: GpuMapping, offset: UInt64, length: UInt64) throws(MagmaError) {
        try space.update(op, mapping, bufferRange: offset..<(offset + length))
    }

    func release() { live.store(false, ordering: .releasing) }

    /// The next per-connection work sequence number.
    func takeSequence() -> UInt64 { nextSequence.add(1, ordering: .relaxed).oldValue }

    func notify(_ notification: SoftGPUNotification) {
        guard isLive else { return }
        notifications.send(notification.bytes)
    }

    /// Closes the connection for a fault, then reports it; its other work is skipped.
    func fault(_ fault: ExecutionFault, sequence: UInt64) {
        let report: SoftGPUNotification = switch fault {
        case .memory(let memoryFault):
            .fault(sequence: sequence, address: memoryFault.address, access: memoryFault.access.rawValue, reason: memoryFault.reason.rawValue)
        case .watchdog(let limit):
            .hang(sequence: sequence, limitNanoseconds: limit)
        case .illegal:
            .illegalCommand(sequence: sequence)
        }
        guard live.exchange(false, ordering: .acquiringAndReleasing) else { return }
        notifications.contextKilled("\(fault)", lastNotification: report.bytes)
    }
}

/// A SoftGPU context: a priority and a queue on the engine.
final class SoftGPUContext: MsdContext {
    let connection: SoftGPUConnection
    let priority: Priority
    /// Its queue on the engine's scheduler.
    let queue: Engine.Queue
    private let engine: Engine
    private let destroyed = Atomic<Bool>(false)

    init(connection: SoftGPUConnection, engine: Engine, priority: Priority) {
        self.connection = connection
        self.engine = engine
        self.priority = priority
        queue = engine.makeQueue(for: connection.client, priority: priority)
    }

    /// True once destroyed: its running work stops at its next check.
    var isDestroyed: Bool { destroyed.load(ordering: .acquiring) }

    func submit(_ work: GpuWork) {
        engine.enqueue(work, context: self, sequence: connection.takeSequence())
    }

    func destroy() {
        destroyed.store(true, ordering: .releasing)
        engine.remove(self)
    }
}
