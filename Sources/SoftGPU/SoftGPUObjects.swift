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
    /// Timelines imported and not released.
    let timelines = Atomic<Int>(0)
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
    /// Completes the work with `status` (the first call only; later ones do nothing) and
    /// settles what waits on it. On success, after completing, it signals its semaphores and
    /// raises its signal timelines to their points (a point a timeline has passed already is
    /// left as it is). On failure it first records `status` on its signal timelines, which ends
    /// every wait on them, then completes (which fails the connection): a process that learns
    /// of the failure from its connection and exits has already failed the timelines that
    /// other processes wait on.
    func finish(_ status: MagmaStatus) {
        guard status == .ok else {
            failSignalTimelines(status)
            complete(status)
            return
        }
        guard complete(status) else { return }
        signalSemaphoresOnSuccess()
        for point in signalTimelinePoints { try? SoftGPUTimeline.of(point.timeline).timeline.signal(to: point.value) }
    }

    /// Records `status` as the failure of every signal timeline (before the work's failure is
    /// reported any other way). Does nothing once the work has completed.
    func failSignalTimelines(_ status: MagmaStatus) {
        guard !isCompleted else { return }
        for point in signalTimelinePoints { SoftGPUTimeline.of(point.timeline).timeline.fail(status) }
    }

    /// Signals the semaphores SoftGPU signals when this work completes successfully: a command
    /// batch's signal list, or the semaphores of every inline command of the request, in order
    /// (SoftGPU's meaning for them: signaled once the request's commands have run; an inline
    /// command never waits). No array is made: inline work that lists none signals nothing.
    private func signalSemaphoresOnSuccess() {
        if case .inline(let commands) = payload {
            for command in commands where !command.semaphores.isEmpty { SoftGPUSemaphore.of(command.semaphores).forEach { $0.signal() } }
        } else if !signalSemaphores.isEmpty {
            SoftGPUSemaphore.of(signalSemaphores).forEach { $0.signal() }
        }
    }
}

/// SoftGPU's timeline: the shared page a client imported, which every holder maps.
final class SoftGPUTimeline: MsdTimeline {
    /// The client's id for it.
    let id: ObjectId
    /// The shared state.
    let timeline: Timeline
    private let owner: ImportedObjects?

    init(timeline: Timeline, id: ObjectId, owner: ImportedObjects?) {
        self.id = id
        self.timeline = timeline
        self.owner = owner
        owner?.timelines.add(1, ordering: .relaxed)
    }

    func release() { owner?.timelines.subtract(1, ordering: .relaxed) }

    /// The SoftGPU timeline MagmaSystem hands back.
    static func of(_ timeline: any MsdTimeline) -> SoftGPUTimeline {
        guard let timeline = timeline as? SoftGPUTimeline else { preconditionFailure("MagmaSystem passed SoftGPU a timeline it did not make") }
        return timeline
    }
}
