/// Chooses which waiting job runs next, fairly and cheaply:
///
/// - strict priority: a job of a higher priority always goes before one of a lower priority;
/// - within a priority, round-robin over the clients (connections) that have jobs waiting, so a
///   client's share does not grow with the number of its queues;
/// - within a client, round-robin over its queues (contexts) at that priority;
/// - within a queue, first in first out.
///
/// Every operation is O(1), except that finding the highest waiting priority is O(log p) for p
/// distinct priorities with jobs waiting (a binary heap). `steps` counts the work done, so tests
/// can check the cost without timing it.
///
/// Not thread-safe: its owner serializes every call (the engine does, under its lock), and the
/// `Client` and `Queue` objects it hands out are only touched through it.
struct Scheduler<Job> {
    /// One client (a connection). Its queues share its turns at each priority.
    final class Client: @unchecked Sendable {
        fileprivate var levels: [UInt64: ClientLevel] = [:]

        /// A client with no queues yet.
        init() {}
    }

    /// One queue (a context): FIFO jobs of one priority, owned by one client.
    final class Queue: RoundRobinMember, @unchecked Sendable {
        /// The priority of every job in this queue.
        let priority: UInt64
        fileprivate let owner: ClientLevel
        fileprivate var jobs = RingQueue<Job>()
        /// Whether the queue was closed: it takes no more jobs.
        fileprivate(set) var isClosed = false
        var previousInRing: Queue?
        var nextInRing: Queue?
        var isInRing = false

        fileprivate init(priority: UInt64, owner: ClientLevel) {
            self.priority = priority
            self.owner = owner
        }
    }

    /// A client's queues at one priority, taking turns; in its level's ring while one of them
    /// has jobs.
    fileprivate final class ClientLevel: RoundRobinMember {
        unowned let client: Client
        let level: Level
        var queues = RoundRobin<Queue>()
        /// Open queues of the client at this priority.
        var members = 0
        var previousInRing: ClientLevel?
        var nextInRing: ClientLevel?
        var isInRing = false

        init(client: Client, level: Level) {
            self.client = client
            self.level = level
        }
    }

    /// Everything at one priority: the clients with jobs waiting, taking turns.
    fileprivate final class Level {
        let priority: UInt64
        var clients = RoundRobin<ClientLevel>()
        /// Jobs waiting at this priority.
        var waiting = 0
        /// Open queues at this priority.
        var members = 0
        var isInHeap = false

        init(priority: UInt64) { self.priority = priority }
    }

    private var levels: [UInt64: Level] = [:]
    /// Levels that had jobs waiting when they were added, highest priority first (a binary
    /// max-heap). The top always has jobs waiting; a level below it may have none any more and
    /// leaves when it reaches the top.
    private var heap: [Level] = []
    /// Heap moves and levels visited so far: the scheduler's work, for tests of its cost.
    private(set) var steps = 0

    /// An empty scheduler.
    init() {}

    /// The highest priority with jobs waiting, if any.
    var highestWaitingPriority: UInt64? { heap.first?.priority }

    /// Opens a queue of `priority` for `client`.
    mutating func makeQueue(for client: Client, priority: UInt64) -> Queue {
        let level = levels[priority] ?? {
            let made = Level(priority: priority)
            levels[priority] = made
            return made
        }()
        let owner = client.levels[priority] ?? {
            let made = ClientLevel(client: client, level: level)
            client.levels[priority] = made
            return made
        }()
        owner.members += 1
        level.members += 1
        return Queue(priority: priority, owner: owner)
    }

    /// Adds `job` at the back of `queue`. False (and nothing queued) if the queue is closed.
    mutating func append(_ job: Job, to queue: Queue) -> Bool {
        guard !queue.isClosed else { return false }
        queue.jobs.append(job)
        added(to: queue)
        return true
    }

    /// Puts `job` back at the front of `queue` (preempted work resumes before its queue's later
    /// jobs); the queue and its client wait for their next turn behind the others. False (and
    /// nothing queued) if the queue is closed.
    mutating func prepend(_ job: Job, to queue: Queue) -> Bool {
        guard !queue.isClosed else { return false }
        queue.jobs.prepend(job)
        added(to: queue)
        return true
    }

    /// Takes the next job: the highest priority's next client's next queue's first job. That
    /// client and queue then go behind the others of their rings.
    mutating func next() -> (job: Job, queue: Queue)? {
        steps += 1
        guard let level = heap.first, let owner = level.clients.front, let queue = owner.queues.front,
              let job = queue.jobs.removeFirst() else { return nil }
        level.waiting -= 1
        if queue.jobs.isEmpty { owner.queues.remove(queue) } else { owner.queues.rotate() }
        if owner.queues.isEmpty { level.clients.remove(owner) } else { level.clients.rotate() }
        settleTop()
        return (job, queue)
    }

    /// Closes `queue`: it takes no more jobs. Returns the jobs it held, oldest first.
    mutating func close(_ queue: Queue) -> [Job] {
        steps += 1
        guard !queue.isClosed else { return [] }
        queue.isClosed = true
        let dropped = queue.jobs.removeAll()
        let owner = queue.owner, level = owner.level
        if queue.isInRing {
            owner.queues.remove(queue)
            if owner.queues.isEmpty { level.clients.remove(owner) }
        }
        level.waiting -= dropped.count
        owner.members -= 1
        if owner.members == 0 { owner.client.levels[level.priority] = nil }
        level.members -= 1
        if level.members == 0, !level.isInHeap { levels[level.priority] = nil }
        settleTop()
        return dropped
    }

    /// Bookkeeping after a job joined `queue`.
    private mutating func added(to queue: Queue) {
        steps += 1
        let owner = queue.owner, level = owner.level
        if !queue.isInRing { owner.queues.append(queue) }
        if !owner.isInRing { level.clients.append(owner) }
        level.waiting += 1
        if !level.isInHeap { push(level) }
    }

    /// Drops levels with nothing waiting from the top of the heap.
    private mutating func settleTop() {
        while let top = heap.first, top.waiting == 0 {
            popTop()
            top.isInHeap = false
            if top.members == 0 { levels[top.priority] = nil }
        }
    }

    private mutating func push(_ level: Level) {
        level.isInHeap = true
        heap.append(level)
        var child = heap.count - 1
        while child > 0 {
            steps += 1
            let parent = (child - 1) / 2
            guard heap[parent].priority < heap[child].priority else { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    private mutating func popTop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            steps += 1
            let left = 2 * parent + 1, right = left + 1
            var largest = parent
            if left < heap.count, heap[left].priority > heap[largest].priority { largest = left }
            if right < heap.count, heap[right].priority > heap[largest].priority { largest = right }
            guard largest != parent else { return }
            heap.swapAt(parent, largest)
            parent = largest
        }
    }
}
