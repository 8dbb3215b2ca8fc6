import Glibc
import MagmaPlatform
import MagmaRing
import MagmaTestSupport
import Synchronization

/// A ring in a fresh memfd, formatted, with an eventfd as its doorbell.
struct TestRing {
    let memory: SharedMemory
    let region: RingRegion
    let wakeup: CountingWakeup

    init(ringSize: Int) throws {
        memory = try SharedMemory.create(size: RingLayout.regionSize(ringSize: ringSize), name: "ring-test")
        region = try RingRegion(memory)
        try region.format(ringSize: ringSize)
        wakeup = CountingWakeup(EventfdWakeup(try EventSemaphore()))
    }

    func producer() throws -> RingProducer { try RingProducer(region: region, doorbell: wakeup) }
    func consumer() throws -> RingConsumer { try RingConsumer(region: region, sleeper: wakeup) }

    /// Stores a little-endian word into the header or body, as a hostile producer would.
    func poke64(_ offset: Int, _ value: UInt64) { (region.base + offset).storeBytes(of: value.littleEndian, as: UInt64.self) }
    func poke32(_ offset: Int, _ value: UInt32) { (region.base + offset).storeBytes(of: value.littleEndian, as: UInt32.self) }
    func peek64(_ offset: Int) -> UInt64 { UInt64(littleEndian: (region.base + offset).loadUnaligned(as: UInt64.self)) }
    func peek32(_ offset: Int) -> UInt32 { UInt32(littleEndian: (region.base + offset).loadUnaligned(as: UInt32.self)) }
}

/// Header offsets the tests poke (RingLayout's table).
enum Field {
    static let magic = 0, version = 4, ringSize = 8, headerSize = 12
    static let write = 64, submitted = 72, read = 128, completed = 136, status = 144
    static let body = RingLayout.headerSize
}

/// An eventfd wakeup that counts rings and returned sleeps.
final class CountingWakeup: RingDoorbell, RingSleeper {
    let inner: EventfdWakeup
    private let rings = Atomic<Int>(0)
    private let wakes = Atomic<Int>(0)

    init(_ inner: EventfdWakeup) { self.inner = inner }

    var ringCount: Int { rings.load(ordering: .acquiring) }
    var wakeCount: Int { wakes.load(ordering: .acquiring) }

    func ring() {
        rings.add(1, ordering: .acquiringAndReleasing)
        inner.ring()
    }

    func sleep() {
        inner.sleep()
        wakes.add(1, ordering: .acquiringAndReleasing)
    }

    func interrupt() { inner.interrupt() }
}

/// A thread the test joins (with a deadline, so a stuck ring fails instead of hanging).
final class TestThread: Sendable {
    private let done: EventSemaphore

    init(_ body: @escaping @Sendable () -> Void) throws {
        let done = try EventSemaphore()
        self.done = done
        try HostThread.spawn(name: "ring-test") {
            body()
            done.signal()
        }
    }

    /// Whether the thread finished within `seconds`.
    func join(seconds: UInt64 = 60) -> Bool { done.wait(timeoutNanoseconds: seconds * 1_000_000_000) }
}

/// Polls `condition` every millisecond for up to 10 s.
func eventually(_ condition: () -> Bool) -> Bool {
    for _ in 0..<10_000 {
        if condition() { return true }
        usleep(1_000)
    }
    return condition()
}

/// Deterministic payload bytes for record `seqno` of a run seeded with `seed`.
func payload(seqno: UInt64, seed: UInt64, length: Int) -> [UInt8] {
    var random = SeededRandom(seed: seed ^ seqno &* 0x9E37_79B9_7F4A_7C15)
    return (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
}
