import MagmaProtocol
import MagmaSystem
import Synchronization

/// One client's SoftGPU state: its address space and its notification route.
final class SoftGPUConnection: MsdConnection {
    let space = AddressSpace()
    private let engine: Engine
    private let notifications: any MsdNotificationHandler
    private let nextSequence = Atomic<UInt64>(1)
    private let live = Atomic<Bool>(true)

    init(engine: Engine, notifications: any MsdNotificationHandler) {
        self.engine = engine
        self.notifications = notifications
    }

    /// False once released or killed by a fault: its queued work is skipped.
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

    /// Reports a fault and closes the connection; its other work is skipped.
    func fault(_ fault: ExecutionFault, sequence: UInt64) {
        switch fault {
        case .memory(let memoryFault):
            notify(.fault(sequence: sequence, address: memoryFault.address, access: memoryFault.access.rawValue, reason: memoryFault.reason.rawValue))
        case .watchdog(let limit):
            notify(.hang(sequence: sequence, limitNanoseconds: limit))
        case .illegal:
            notify(.illegalCommand(sequence: sequence))
        }
        live.store(false, ordering: .releasing)
        notifications.contextKilled("\(fault)")
    }
}

/// A SoftGPU context: a priority and a queue on the engine.
final class SoftGPUContext: MsdContext {
    let connection: SoftGPUConnection
    let priority: Priority
    private let engine: Engine

    init(connection: SoftGPUConnection, engine: Engine, priority: Priority) {
        self.connection = connection
        self.engine = engine
        self.priority = priority
    }

    func submit(_ work: GpuWork) {
        engine.enqueue(work, context: self, sequence: connection.takeSequence())
    }

    func destroy() { engine.remove(self) }
}
