import Synchronization
import MagmaPlatform
import MagmaProtocol
import MagmaRing

/// The one thread that drains every command ring of one guest (all its contexts'), so a
/// guest costs one thread however many rings it sets up. It drains while there are records
/// (status ACTIVE), spins for `spinNanoseconds` when every ring is empty (SPINNING), then
/// announces ASLEEP on every ring and sleeps on the guest's wakeup eventfd only if each ring's
/// re-check still finds it empty: the guest's `wake_rings` (sent only when it found a ring
/// ASLEEP) signals it. The rings themselves are reached through `rings`, which takes the device
/// model's lock for each pass.
final class HostRingConsumer: Sendable {
    /// What the thread does with the guest's rings, each under the device model's lock.
    struct Rings: Sendable {
        /// Drains every ring once; how many records it applied.
        let drain: @Sendable () -> Int
        /// Stores a status in every ring.
        let setStatus: @Sendable (RingStatus) -> Void
        /// Announces ASLEEP on every ring; true if every ring is still empty.
        let announceSleep: @Sendable () -> Bool
    }

    /// Where the rings' consumers sleep, and what the guest's doorbell signals.
    let wakeup: EventfdWakeup
    /// Signaled once the thread has ended (it then touches no ring).
    let ended: EventSemaphore
    private let stopped = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    private let spinNanoseconds: UInt64
    private let name: String

    init(spinNanoseconds: UInt64, name: String) throws(MagmaError) {
        do {
            wakeup = EventfdWakeup(try EventSemaphore())
            ended = try EventSemaphore()
        } catch { throw .internalError("ring consumer: \(error)") }
        self.spinNanoseconds = spinNanoseconds
        self.name = name
    }

    /// Starts the thread over `rings`, once (later calls do nothing).
    func start(_ rings: Rings) throws(MagmaError) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        do { try HostThread.spawn(name: name) { [self] in run(rings) } } catch {
            started.store(false, ordering: .releasing)
            throw .internalError("ring consumer thread: \(error)")
        }
    }

    /// Wakes the thread (a doorbell, or a new ring to look at).
    func wake() { wakeup.ring() }

    /// Ends the thread; once `ended` is signaled (at once if it never started), it holds nothing.
    func stop() {
        stopped.store(true, ordering: .releasing)
        if !started.exchange(true, ordering: .acquiringAndReleasing) { ended.signal() }
        wakeup.interrupt()
    }

    private func run(_ rings: Rings) {
        defer { ended.signal() }
        var spinning = false
        var idleSince: UInt64?
        while !stopped.load(ordering: .acquiring) {
            if rings.drain() > 0 {
                if spinning { rings.setStatus(.active) }
                spinning = false
                idleSince = nil
                continue
            }
            let now = Clock.monotonicNanoseconds()
            let since = idleSince ?? now
            idleSince = since
            if now &- since < spinNanoseconds {
                if !spinning { rings.setStatus(.spinning) }
                spinning = true
                SharedWords.spinHint()
                continue
            }
            if rings.announceSleep() && !stopped.load(ordering: .acquiring) { wakeup.sleep() }
            rings.setStatus(.active)
            spinning = false
            idleSince = nil
        }
    }
}
