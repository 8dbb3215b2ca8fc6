import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import Synchronization

/// One client's SoftGPU state: its address space, its notification route and the counters
/// its dumps write.
final class SoftGPUConnection: MsdConnection {
    let space = AddressSpace()
    /// This connection's turns on the engine, shared by its contexts.
    let client = Engine.Client()
    /// The device's counters.
    let counters: SoftGPUPerformanceCounters
    /// The counters this connection's dumps write.
    let enabledCounters = Locked(PerformanceCounterSet.empty)
    private let engine: Engine
    private let waiter: SemaphoreWaiter
    private let notifications: any MsdNotificationHandler
    private let nextSequence = Atomic<UInt64>(1)
    private let live = Atomic<Bool>(true)

    init(engine: Engine, waiter: SemaphoreWaiter, counters: SoftGPUPerformanceCounters, notifications: any MsdNotificationHandler) {
        self.engine = engine
        self.waiter = waiter
        self.counters = counters
        self.notifications = notifications
    }

    /// False once released or killed by a fault: its queued work is skipped and its running
    /// work stops.
    var isLive: Bool { live.load(ordering: .acquiring) }

    func createContext(priority: Priority, queueFamily: UInt32) throws(MagmaError) -> any MsdContext {
        guard Int(queueFamily) < SoftGPUIdentity.queueFamilies.count else { throw .invalidArgs("queue family \(queueFamily)") }
        let family = SoftGPUIdentity.queueFamilies[Int(queueFamily)]
        return SoftGPUContext(connection: self, engine: engine, waiter: waiter, priority: priority,
                              runsDispatches: family.flags.contains(.compute))
    }

    func map(_ mapping: GpuMapping) throws(MagmaError) { space.map(mapping) }

    func unmap(_ mapping: GpuMapping) { space.unmap(mapping) }

    func updatePageTables(_ op: BufferRangeOp, mapping: GpuMapping, offset: UInt64, length: UInt64) throws(MagmaError) {
        try space.update(op, mapping, bufferRange: offset..<(offset + length))
    }

    /// Stops the connection's work and empties its address space.
    func release() {
        live.store(false, ordering: .releasing)
        space.removeAll()
    }

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

/// A SoftGPU context: a priority, a queue on the engine, and the work held back from it while
/// its head waits for semaphores.
///
/// Work goes to the engine in submission order. Work with no waits on a context holding
/// nothing goes straight to the engine (no thread woken, no system call); otherwise it is held
/// behind the context's earlier work, and the device's `SemaphoreWaiter` releases the head
/// once its waits have signaled. Other contexts run meanwhile.
final class SoftGPUContext: MsdContext {
    private struct Held {
        /// Work not yet given to the engine, oldest first; the first waits for semaphores or
        /// timeline points.
        var work: [GpuWork] = []
        /// The watch of a timeline point the head waits for (one at a time), made when it
        /// first waits for it and dropped once the head is released.
        var headWatch: TimelineWatch?
        var destroyed = false
    }

    let connection: SoftGPUConnection
    let priority: Priority
    /// Whether its family runs compute dispatches (a transfer-only family's does not).
    let runsDispatches: Bool
    /// Its queue on the engine's scheduler.
    let queue: Engine.Queue
    private let engine: Engine
    private let waiter: SemaphoreWaiter
    private let held = Locked(Held())
    private let destroyed = Atomic<Bool>(false)

    init(connection: SoftGPUConnection, engine: Engine, waiter: SemaphoreWaiter, priority: Priority, runsDispatches: Bool = true) {
        self.connection = connection
        self.runsDispatches = runsDispatches
        self.engine = engine
        self.waiter = waiter
        self.priority = priority
        queue = engine.makeQueue(for: connection.client, priority: priority)
    }

    /// True once destroyed: its running work stops at its next check.
    var isDestroyed: Bool { destroyed.load(ordering: .acquiring) }

    func submit(_ work: GpuWork) {
        enum Route { case queued, watch, abandon }
        let route: Route = held.withLock { held in
            if held.destroyed { return .abandon }
            // Nothing held before it and nothing to wait for (or every wait already satisfied,
            // as when the client signaled first): it goes to the engine now, its waits consumed
            // as the waiter would, with no trip through the waiter thread (which would start
            // for it and end after it: a thread per submission).
            if held.work.isEmpty {
                let waits = SoftGPUSemaphore.of(work.waitSemaphores)
                if Self.reached(work.waitTimelinePoints), waits.allSatisfy({ $0.event.isSignaled }) {
                    Self.distinct(waits).forEach { $0.consumeAfterWait() }
                    enqueue(work)
                    return .queued
                }
            }
            held.work.append(work)
            return held.work.count == 1 ? .watch : .queued
        }
        switch route {
        case .queued: break
        case .watch: waiter.watch(self)
        case .abandon: engine.abandon([work])
        }
    }

    /// Gives the engine the held work whose waits have all signaled and whose wait timeline
    /// points are all reached, in order, consuming each distinct wait semaphore once. Returns
    /// what the head still waits for; when nothing is held any more, the context leaves the
    /// waiter. A head waiting for a point of a timeline that has failed can never run: it and
    /// the work behind it complete with CONTEXT_KILLED (so their own waiters learn it). For
    /// the waiter thread.
    func releaseReadyWork() -> [SemaphoreWaiter.Awaited] {
        var doomed: [GpuWork] = []
        let awaited: [SemaphoreWaiter.Awaited] = held.withLock { held in
            while let head = held.work.first {
                let points = head.waitTimelinePoints.map { (SoftGPUTimeline.of($0.timeline).timeline, $0.value) }
                let unreached = points.filter { $0.0.value < $0.1 }
                if unreached.contains(where: { $0.0.status != 0 }) {
                    doomed = held.work
                    held.work = []
                    held.headWatch = nil
                    break
                }
                let waits = Self.distinct(SoftGPUSemaphore.of(head.waitSemaphores))
                let unsignaled = waits.filter { !$0.event.isSignaled }
                guard unsignaled.isEmpty, unreached.isEmpty else {
                    // One point not reached is watched at a time (all must be reached anyway):
                    // a waiting head holds at most one watch's eventfd, however many it lists.
                    let watched = unreached.first.flatMap { watch($0.0, for: $0.1, in: &held) }
                    return unsignaled.map { .semaphore($0) } + (watched.map { [.timeline($0)] } ?? [])
                }
                waits.forEach { $0.consumeAfterWait() }
                held.work.removeFirst()
                held.headWatch = nil
                enqueue(head)
            }
            waiter.unwatch(self)
            return []
        }
        if !doomed.isEmpty { engine.abandon(doomed) }
        return awaited
    }

    /// The head's watch for `point` of `timeline`, made on first need. Nil when none can be
    /// made (no eventfd or thread left): the context is then looked at again whenever the
    /// waiter wakes, which another wait's change or a new submission causes.
    private func watch(_ timeline: Timeline, for point: UInt64, in held: inout Held) -> TimelineWatch? {
        if let watch = held.headWatch, watch.timeline === timeline, watch.point == point { return watch }
        held.headWatch = try? TimelineWatch(timeline, for: point)
        return held.headWatch
    }

    /// Takes every held job, for cancellation.
    func takeHeldWork() -> [GpuWork] {
        held.withLock { held in
            defer { held.work = [] }
            return held.work
        }
    }

    func destroy() {
        destroyed.store(true, ordering: .releasing)
        let dropped: [GpuWork] = held.withLock { held in
            held.destroyed = true
            waiter.unwatch(self)
            held.headWatch = nil
            defer { held.work = [] }
            return held.work
        }
        engine.abandon(dropped)
        engine.remove(self)
    }

    private func enqueue(_ work: GpuWork) {
        engine.enqueue(work, context: self, sequence: connection.takeSequence())
    }

    /// Whether every one of `points` is reached now.
    private static func reached(_ points: [MsdTimelinePoint]) -> Bool {
        points.allSatisfy { SoftGPUTimeline.of($0.timeline).timeline.value >= $0.value }
    }

    /// `semaphores` without repeats, in first-listed order.
    private static func distinct(_ semaphores: [SoftGPUSemaphore]) -> [SoftGPUSemaphore] {
        guard semaphores.count > 1 else { return semaphores }
        var seen = Set<ObjectIdentifier>()
        return semaphores.filter { seen.insert(ObjectIdentifier($0)).inserted }
    }
}
