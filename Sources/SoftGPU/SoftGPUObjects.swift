import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import Synchronization

/// What a SoftGPU device holds for its clients: imported buffers and semaphores MagmaSystem has
/// not released yet.
final class ImportedObjects: Sendable {
    /// Buffers imported and not released.
    let buffers = Atomic<Int>(0)
    /// Their bytes.
    let bufferBytes = Atomic<Int>(0)
    /// Semaphores imported and not released.
    let semaphores = Atomic<Int>(0)
}

/// SoftGPU's buffer: the client's memory, which the address space maps and the command
/// processor reads. It lives as long as a mapping, queued work or a pool uses it, even after
/// MagmaSystem released it.
final class SoftGPUBuffer: MsdBuffer {
    /// The client's id for it.
    let id: ObjectId
    /// The shared pages (the same ones the client maps).
    let memory: SharedMemory
    private let owner: ImportedObjects?

    /// A buffer of `memory`, counted in `owner` until released (tests make uncounted ones).
    init(memory: SharedMemory, id: ObjectId = 0, owner: ImportedObjects? = nil) {
        self.id = id
        self.memory = memory
        self.owner = owner
        owner?.buffers.add(1, ordering: .relaxed)
        owner?.bufferBytes.add(memory.size, ordering: .relaxed)
    }

    func release() {
        owner?.buffers.subtract(1, ordering: .relaxed)
        owner?.bufferBytes.subtract(memory.size, ordering: .relaxed)
    }

    /// The SoftGPU buffer MagmaSystem hands back: it only ever passes a driver the objects that
    /// driver made.
    static func of(_ buffer: any MsdBuffer) -> SoftGPUBuffer {
        guard let buffer = buffer as? SoftGPUBuffer else { preconditionFailure("MagmaSystem passed SoftGPU a buffer it did not make") }
        return buffer
    }
}

/// SoftGPU's semaphore: the client's eventfd, with binary semantics (a wait consumes it unless
/// it was imported one-shot).
final class SoftGPUSemaphore: MsdSemaphore {
    /// The client's id for it.
    let id: ObjectId
    /// The shared event.
    let event: EventSemaphore
    /// Imported with `.oneShot`: waits never reset it.
    let oneShot: Bool
    private let owner: ImportedObjects?

    init(event: EventSemaphore, id: ObjectId, oneShot: Bool, owner: ImportedObjects?) {
        self.id = id
        self.event = event
        self.oneShot = oneShot
        self.owner = owner
        owner?.semaphores.add(1, ordering: .relaxed)
    }

    func release() { owner?.semaphores.subtract(1, ordering: .relaxed) }

    /// Signals the event.
    func signal() { event.signal() }

    /// Resets after a wait consumed it, unless one-shot.
    func consumeAfterWait() { if !oneShot { event.reset() } }

    /// The SoftGPU semaphores MagmaSystem hands back.
    static func of(_ semaphores: [any MsdSemaphore]) -> [SoftGPUSemaphore] {
        semaphores.map { semaphore in
            guard let semaphore = semaphore as? SoftGPUSemaphore else {
                preconditionFailure("MagmaSystem passed SoftGPU a semaphore it did not make")
            }
            return semaphore
        }
    }
}

extension GpuWork {
    /// The semaphores SoftGPU signals when this work completes successfully: a command batch's
    /// signal list, or an inline command's semaphores (SoftGPU's meaning for them: signaled when
    /// the command has run; an inline command never waits).
    var semaphoresSignaledOnSuccess: [SoftGPUSemaphore] {
        if case .inline(_, let semaphores) = payload { return SoftGPUSemaphore.of(semaphores) }
        return SoftGPUSemaphore.of(signalSemaphores)
    }
}
