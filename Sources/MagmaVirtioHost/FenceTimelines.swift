import MagmaPlatform

/// Which fence timeline a fenced command is on: `(context, ring)` with FLAG_INFO_RING_IDX, the
/// device's global timeline (context 0, ring 0) without (virtio spec 5.7.6.8).
struct FenceTimelineKey: Hashable, Sendable {
    let contextId: UInt32
    let ring: UInt8

    static let global = FenceTimelineKey(contextId: 0, ring: 0)
}

/// One fenced command: done once the work it stands for is; then, in timeline order, its
/// completion eventfd is signaled (the device's response "when processing is complete").
final class Fence: @unchecked Sendable {
    /// Signaled when the fence completes (what the socket emulation hands the guest).
    let completion: EventSemaphore
    let key: FenceTimelineKey
    /// Whether its work is done; read and written under `FenceTimelines.queues`' lock only.
    fileprivate var isDone = false
    /// For a fence that waits for a condition (not GPU work): ends the wait with a
    /// `preempted_reply`, true if it did (false if its wait has ended meanwhile, and so will be
    /// done anyway). Set once, under `FenceTimelines.queues`' lock.
    fileprivate var preempter: (@Sendable () -> Bool)?

    init(key: FenceTimelineKey) throws(PlatformError) {
        completion = try EventSemaphore()
        self.key = key
    }
}

/// The fence timelines of one guest: per timeline, its fences in submission order. A fence
/// completes once its work is done and every fence before it on its timeline has completed,
/// so completing fence N answers every command with a fence up to N (the spec's rule).
///
/// A wait never holds a later fence: when a fence's work is done, every earlier fence of its
/// timeline that waits for a condition (`preemptible`) is preempted (its wait ends with a
/// `preempted_reply`, which the guest submits again) and completes with it. That is the rule a
/// guest kernel without CONTEXT_INIT applies to its one fence timeline (it signals every earlier
/// fence when a later one completes), made the host's, so no wait of one context holds a call
/// of another. Fences waiting for GPU work are never preempted: they complete in order.
final class FenceTimelines: Sendable {
    private let queues = Locked<[FenceTimelineKey: [Fence]]>([:])

    /// A new fence at the end of its timeline; nil if `limit` fences are pending already.
    /// Fences complete in submission order on their timeline, so a guest's increasing fence ids
    /// complete in their order (the ids themselves travel back in the response header).
    func enqueue(key: FenceTimelineKey, limit: Int) throws(PlatformError) -> Fence? {
        let fence = try Fence(key: key)
        return queues.withLock { queues in
            guard queues.values.reduce(0, { $0 + $1.count }) < limit else { return nil }
            queues[key, default: []].append(fence)
            return fence
        }
    }

    /// Says how to preempt `fence`'s wait: a later fence done from now on ends it (see the type).
    func preemptible(_ fence: Fence, by preempter: @escaping @Sendable () -> Bool) {
        queues.withLock { _ in fence.preempter = preempter }
    }

    /// Marks `fence`'s work done, preempts the waits before it on its timeline and completes
    /// the fences at the head of its timeline that are done.
    func done(_ fence: Fence) {
        let earlier = queues.withLock { queues -> [Fence] in
            fence.isDone = true
            guard let queue = queues[fence.key], let index = queue.firstIndex(where: { $0 === fence }) else { return [] }
            return queue[..<index].filter { !$0.isDone && $0.preempter != nil }
        }
        // Outside the lock: a preempter takes its watcher's lock and writes a reply.
        let preempted = earlier.filter { $0.preempter?() == true }
        let completed = queues.withLock { queues -> [Fence] in
            for fence in preempted { fence.isDone = true }
            guard var queue = queues[fence.key] else { return [] }
            var completed: [Fence] = []
            while let head = queue.first, head.isDone {
                completed.append(queue.removeFirst())
            }
            queues[fence.key] = queue.isEmpty ? nil : queue
            return completed
        }
        for fence in completed { fence.completion.signal() }
    }

    /// Fences not yet completed, on every timeline.
    var pendingCount: Int { queues.withLock { $0.values.reduce(0) { $0 + $1.count } } }
}
