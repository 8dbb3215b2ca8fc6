import MagmaPlatform
import MagmaProtocol
import Synchronization

/// A semaphore imported into a connection.
public final class SystemSemaphore: Sendable {
    /// The client's id for it in this connection.
    public let id: ObjectId
    /// The shared event.
    public let event: EventSemaphore
    /// Imported with `.oneShot`: waits never reset it.
    public let oneShot: Bool

    init(id: ObjectId, event: EventSemaphore, oneShot: Bool) {
        self.id = id
        self.event = event
        self.oneShot = oneShot
    }

    /// Signals the semaphore.
    public func signal() { event.signal() }

    /// Resets after a wait consumed it, unless one-shot: what a driver does once work that
    /// waited on this semaphore may run (binary semantics).
    public func consumeAfterWait() { if !oneShot { event.reset() } }
}

/// A buffer range mapped at a GPU virtual address in one connection.
public struct GpuMapping: Sendable {
    /// First GPU virtual address; page aligned.
    public let gpuAddress: UInt64
    /// The buffer's memory.
    public let memory: SharedMemory
    /// The buffer's id in the connection.
    public let bufferId: ObjectId
    /// Byte offset of the mapping inside the buffer; page aligned.
    public let offset: UInt64
    /// Length in bytes; page aligned, non-zero.
    public let length: UInt64
    /// Permissions.
    public let flags: MapFlags

    /// One past the last GPU address.
    public var endAddress: UInt64 { gpuAddress + length }

    /// Describes a mapping. MagmaSystem creates these after validating a map request; drivers
    /// and their tests may build their own.
    public init(gpuAddress: UInt64, memory: SharedMemory, bufferId: ObjectId, offset: UInt64, length: UInt64, flags: MapFlags) {
        self.gpuAddress = gpuAddress
        self.memory = memory
        self.bufferId = bufferId
        self.offset = offset
        self.length = length
        self.flags = flags
    }
}

/// A resource of a command batch, resolved to memory.
public struct ResolvedResource: Sendable {
    public let range: BufferRange
    public let memory: SharedMemory
}

/// One unit of work handed to a driver context: a command batch or one inline command.
public final class GpuWork: Sendable {
    /// What to run.
    public enum Payload: Sendable {
        /// Command buffers read from resources.
        case commandBuffers(resources: [ResolvedResource], entries: [CommandBufferEntry], flags: UInt64)
        /// Inline command bytes.
        case inline([UInt8])

        /// The buffer ids this work keeps in flight.
        var resourceIds: [ObjectId] {
            if case .commandBuffers(let resources, _, _) = self { return resources.map(\.range.bufferId) }
            return []
        }
    }

    /// What to run.
    public let payload: Payload
    /// Semaphores the work waits for, as the client listed them (a semaphore may appear more
    /// than once). The driver runs the work only once all have signaled, and then consumes each
    /// once (`SystemSemaphore.consumeAfterWait`).
    public let waitSemaphores: [SystemSemaphore]
    /// Semaphores signaled when the work completes successfully.
    public let signalSemaphores: [SystemSemaphore]
    /// The buffer ids this work keeps in flight until it completes.
    let resourceIds: [ObjectId]
    private let onComplete: @Sendable (MagmaStatus) -> Void
    private let completed = Atomic<Bool>(false)

    init(payload: Payload, resourceIds: [ObjectId], waitSemaphores: [SystemSemaphore], signalSemaphores: [SystemSemaphore],
         onComplete: @escaping @Sendable (MagmaStatus) -> Void) {
        self.payload = payload
        self.waitSemaphores = waitSemaphores
        self.resourceIds = resourceIds
        self.signalSemaphores = signalSemaphores
        self.onComplete = onComplete
    }

    /// What pending work of `payload` with `signals` signal semaphores costs: a fixed 512 bytes
    /// (the work, its completion and its queue entries) plus what it carries.
    static func pendingCost(of payload: Payload, signals: Int) -> UInt64 {
        let carried: Int
        switch payload {
        case .commandBuffers(let resources, let entries, _): carried = 64 * resources.count + 16 * entries.count
        case .inline(let data): carried = data.count
        }
        return UInt64(512 + carried + 16 * signals)
    }

    /// Reports the outcome. The work's resources stop being in flight, then, on `.ok`, the
    /// signal semaphores fire: a client woken by them may release what the work used. Only
    /// the first call counts.
    public func complete(_ status: MagmaStatus) {
        guard !completed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        onComplete(status)
        if status == .ok { signalSemaphores.forEach { $0.signal() } }
    }
}
