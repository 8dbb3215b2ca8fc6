import MagmaPlatform
import MagmaProtocol
import Synchronization

/// A buffer range mapped at a GPU virtual address in one connection.
public struct GpuMapping: Sendable {
    /// First GPU virtual address; page aligned.
    public let gpuAddress: UInt64
    /// The driver's buffer.
    public let buffer: any MsdBuffer
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
    public init(gpuAddress: UInt64, buffer: any MsdBuffer, bufferId: ObjectId, offset: UInt64, length: UInt64, flags: MapFlags) {
        self.gpuAddress = gpuAddress
        self.buffer = buffer
        self.bufferId = bufferId
        self.offset = offset
        self.length = length
        self.flags = flags
    }
}

/// A resource of a command batch, resolved to the driver's buffer.
public struct ResolvedResource: Sendable {
    /// The range of the buffer the client listed.
    public let range: BufferRange
    /// The driver's buffer that `range.bufferId` names.
    public let buffer: any MsdBuffer
}

/// An inline command resolved: its bytes and the driver's semaphores the client listed with it.
public struct ResolvedInlineCommand: Sendable {
    /// The command bytes (non-empty).
    public let data: [UInt8]
    /// The semaphores listed with the command; what they do is the driver's to define.
    public let semaphores: [any MsdSemaphore]

    /// Describes an inline command. MagmaSystem creates these after validating a request;
    /// drivers and their tests may build their own.
    public init(data: [UInt8], semaphores: [any MsdSemaphore]) {
        self.data = data
        self.semaphores = semaphores
    }
}

/// One unit of work handed to a driver context: a command batch, or the inline commands of one
/// request (one message of the protocol).
public final class GpuWork: Sendable {
    /// What to run.
    public enum Payload: Sendable {
        /// Command buffers read from resources.
        case commandBuffers(resources: [ResolvedResource], entries: [CommandBufferEntry], flags: UInt64)
        /// The inline commands of one request, in order (at least one), each with the
        /// semaphores the client listed with it; what the semaphores do is the driver's to
        /// define.
        case inline([ResolvedInlineCommand])
        /// A command stream the driver reads through the connection's address space, from
        /// `gpuAddress` for `length` bytes (nonzero), when the work runs; a range not mapped
        /// readable is a fault of the connection.
        case commandStream(gpuAddress: UInt64, length: UInt64, flags: UInt64)
        /// Bind operations, applied to the connection's page tables in order when the work
        /// runs (after `GpuWork.admitBind()` agrees), before the work signals.
        case bind([MsdBindOperation])

        /// The buffer ids this work keeps in flight.
        var resourceIds: [ObjectId] {
            if case .commandBuffers(let resources, _, _) = self { return resources.map { $0.range.bufferId } }
            return []
        }
    }

    /// What to run.
    public let payload: Payload
    /// Semaphores the work waits for, as the client listed them (a semaphore may appear more
    /// than once); empty for inline commands. The driver runs the work only once all have
    /// signaled, and then consumes each once.
    public let waitSemaphores: [any MsdSemaphore]
    /// Semaphores the driver signals when the work completes successfully; empty for inline
    /// commands.
    public let signalSemaphores: [any MsdSemaphore]
    /// Timeline points the work waits for (empty for inline commands): it runs only once every
    /// one is reached.
    public let waitTimelinePoints: [MsdTimelinePoint]
    /// Timeline points the driver signals when the work completes successfully; when it does
    /// not, the driver records the failure on their timelines instead.
    public let signalTimelinePoints: [MsdTimelinePoint]
    /// The buffer ids this work keeps in flight until it completes.
    let resourceIds: [ObjectId]
    private let onComplete: @Sendable (MagmaStatus) -> Void
    private let bindAdmission: (@Sendable () -> Bool)?
    private let completed = Atomic<Bool>(false)

    init(payload: Payload, resourceIds: [ObjectId], waitSemaphores: [any MsdSemaphore], signalSemaphores: [any MsdSemaphore],
         waitTimelinePoints: [MsdTimelinePoint] = [], signalTimelinePoints: [MsdTimelinePoint] = [],
         bindAdmission: (@Sendable () -> Bool)? = nil, onComplete: @escaping @Sendable (MagmaStatus) -> Void) {
        self.payload = payload
        self.bindAdmission = bindAdmission
        self.waitTimelinePoints = waitTimelinePoints
        self.signalTimelinePoints = signalTimelinePoints
        self.waitSemaphores = waitSemaphores
        self.resourceIds = resourceIds
        self.signalSemaphores = signalSemaphores
        self.onComplete = onComplete
    }

    /// What pending work of `payload` with `signals` signal semaphores costs: a fixed 512 bytes
    /// (the work, its completion and its queue entries) plus what it carries (an inline
    /// command: 32 bytes, its data and 16 per semaphore).
    static func pendingCost(of payload: Payload, signals: Int) -> UInt64 {
        let carried: Int
        switch payload {
        case .commandBuffers(let resources, let entries, _): carried = 64 * resources.count + 16 * entries.count
        case .inline(let commands): carried = commands.reduce(0) { $0 + 32 + $1.data.count + 16 * $1.semaphores.count }
        case .commandStream: carried = 0
        case .bind(let operations): carried = 64 * operations.count
        }
        return UInt64(512 + carried + 16 * signals)
    }

    /// For bind work, when it runs and before the driver changes any page table: whether its
    /// operations may take effect now. MagmaSystem judges them against the work in flight at
    /// this moment: an unmap of a buffer that submitted, not yet completed work lists fails
    /// the connection with BAD_STATE, and then this returns false, as it does once the
    /// connection has closed. On false the driver applies nothing and completes the work with
    /// BAD_STATE (its signals never fire). Work of any other payload is always admitted.
    public func admitBind() -> Bool { bindAdmission?() ?? true }

    /// Whether `complete` has been called.
    public var isCompleted: Bool { completed.load(ordering: .acquiring) }

    /// Reports the outcome: the work's resources stop being in flight; anything but `.ok`
    /// fails the connection. Only the first call counts. The driver signals the signal
    /// semaphores of successful work after this call, never before. Returns whether this call
    /// was the first (the one that counted).
    @discardableResult
    public func complete(_ status: MagmaStatus) -> Bool {
        guard !completed.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        onComplete(status)
        return true
    }
}
