import CMagmaLinux
import Glibc
import SystemPackage

/// A pollable wait for one point of a timeline: `descriptor` (an eventfd) polls readable once
/// the timeline has reached the point or failed, so a timeline point can be waited on with
/// `poll(2)` beside eventfds and sockets (binary semaphores, a connection's failure descriptor).
///
/// One watcher thread per up to 127 watches in the process (`timeline.watch`, started when
/// first needed and kept) waits for them with `futex_waitv` on the timelines' futex words and
/// its own: no timer, it runs only when a watched timeline changes or a watch is added. A
/// watch that ends (deinit) stops being watched.
public final class TimelineWatch: Sendable {
    /// The timeline watched.
    public let timeline: Timeline
    /// The point waited for.
    public let point: UInt64
    private let event: EventSemaphore
    /// The watcher serving it; nil when it was settled when made.
    private let watcher: TimelineWatcher?

    /// Watches `timeline` for `point`. Fails when no eventfd or watcher thread can be made.
    public init(_ timeline: Timeline, for point: UInt64) throws(PlatformError) {
        self.timeline = timeline
        self.point = point
        event = try EventSemaphore()
        if timeline.isSettled(for: point) {
            event.signal()
            watcher = nil
            return
        }
        watcher = try TimelineWatchers.shared.add(TimelineWatcher.Entry(timeline: timeline, point: point, event: event))
    }

    deinit { watcher?.remove(event) }

    /// Polls readable once the point is reached or the timeline has failed; owned by the watch
    /// (valid while it lives).
    public var descriptor: FileDescriptor { event.descriptor.fileDescriptor }

    /// Whether the point is reached or the timeline has failed, now.
    public var isSettled: Bool { timeline.isSettled(for: point) }
}

/// The process's watcher threads, each with room for up to 127 watches.
final class TimelineWatchers: Sendable {
    static let shared = TimelineWatchers()
    private let watchers = Locked<[TimelineWatcher]>([])

    /// Hands `entry` to a watcher with room, starting one if none has.
    func add(_ entry: TimelineWatcher.Entry) throws(PlatformError) -> TimelineWatcher {
        try watchers.withLock { (watchers: inout [TimelineWatcher]) throws(PlatformError) -> TimelineWatcher in
            if let watcher = watchers.first(where: { $0.add(entry) }) { return watcher }
            let watcher = try TimelineWatcher.start()
            _ = watcher.add(entry)
            watchers.append(watcher)
            return watcher
        }
    }
}

/// One watcher thread and the watches it serves. Its wake word is touched only atomically.
final class TimelineWatcher: @unchecked Sendable {
    /// One watch: signal `event` once `timeline` settles for `point`.
    struct Entry: Sendable {
        let timeline: Timeline
        let point: UInt64
        let event: EventSemaphore
    }

    /// The most watches one thread serves: futex_waitv's limit, less the thread's own word.
    static let capacity = Int(CMAGMA_FUTEX_WAITV_MAX) - 1
    private let entries = Locked<[Entry]>([])
    /// Bumped and woken when the entries change, so the thread looks at them again.
    private let wakeWord: UnsafeMutablePointer<UInt32>

    private init(wakeWord: UnsafeMutablePointer<UInt32>) { self.wakeWord = wakeWord }

    /// Starts a watcher thread. ENOSYS on kernels without futex_waitv (before Linux 5.16): a
    /// probe with a word that does not hold its expected value answers EAGAIN where it exists.
    static func start() throws(PlatformError) -> TimelineWatcher {
        let word = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
        word.initialize(to: 0)
        var probeAddress: UnsafeMutablePointer<UInt32>? = word
        var probeExpected: UInt32 = 1
        do throws(PlatformError) {
            try SystemCall.once("futex_waitv") { cmagma_futex_waitv(&probeAddress, &probeExpected, 1, .max) }
        } catch where error.errno == .noFunction {
            word.deallocate()
            throw error
        } catch {
            // EAGAIN, as expected: futex_waitv exists.
        }
        let watcher = TimelineWatcher(wakeWord: word)
        try HostThread.spawn(name: "magma.timeline") { watcher.run() }
        return watcher
    }

    /// Adds `entry` if there is room.
    func add(_ entry: Entry) -> Bool {
        let added = entries.withLock { entries in
            guard entries.count < Self.capacity else { return false }
            entries.append(entry)
            return true
        }
        if added { wake() }
        return added
    }

    /// Stops watching for `event`'s entry (done already if it fired). The thread is not woken:
    /// until something else wakes it, it may go on sleeping on the removed entry's word, which
    /// costs nothing, and a wait that ends saves it a wake-up.
    func remove(_ event: EventSemaphore) {
        entries.withLock { entries in
            if let index = entries.firstIndex(where: { $0.event === event }) { entries.remove(at: index) }
        }
    }

    private func wake() {
        _ = cmagma_atomic_add_u32(wakeWord, 1)
        _ = cmagma_futex_wake_all(wakeWord)
    }

    /// The thread: signals settled entries and drops them, then sleeps until its word or a
    /// watched timeline's word changes. Each word is read before its state is looked at, so a
    /// change after the look makes futex_waitv return at once.
    private func run() {
        var addresses: [UnsafeMutablePointer<UInt32>?] = []
        var expected: [UInt32] = []
        while true {
            addresses = [wakeWord]
            expected = [cmagma_atomic_load_u32(wakeWord)]
            entries.withLock { entries in
                entries.removeAll { entry in
                    let sequence = entry.timeline.sequence
                    guard entry.timeline.isSettled(for: entry.point) else {
                        addresses.append(entry.timeline.sequenceWord)
                        expected.append(sequence)
                        return false
                    }
                    entry.event.signal()
                    return true
                }
            }
            // Returns when a word changed or was woken (EAGAIN, EINTR included): look again.
            _ = addresses.withUnsafeBufferPointer { words in
                expected.withUnsafeBufferPointer { values in
                    cmagma_futex_waitv(words.baseAddress, values.baseAddress, Int32(words.count), .max)
                }
            }
        }
    }
}
