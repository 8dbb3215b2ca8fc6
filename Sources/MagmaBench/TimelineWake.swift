import CMagmaLinux
import Glibc
import MagmaDevices
import MagmaPlatform

/// Signal-to-wake between two threads through a Magma timeline semaphore (the driver signals
/// odd points and waits for the next even one; the other thread waits for each odd point and
/// signals the even one after it), against the floor: the same ping-pong on a shared 32-bit
/// futex word with FUTEX_WAKE and futex_waitv. Half a round trip is one signal-to-wake. Magma's
/// wait is the pollable one (`SyncWait`): a `TimelineWatch` per wait, woken by the process's
/// watcher thread, so each wake crosses one more thread than the floor's.
final class TimelineWake: BenchmarkPath {
    let name = "timeline signal-to-wake (cross-thread)"
    let unit = "wake"
    let operations: Int
    private let connection: Connection
    private let timeline: TimelineSemaphore
    private let word: SharedMemory

    init(operations: Int) throws {
        self.operations = operations
        connection = try Device.open(.embedded).createConnection()
        timeline = try connection.createTimelineSemaphore()
        word = try SharedMemory.create(size: SharedMemory.pageSize, name: "bench-futex")
    }

    func runMagma() throws {
        let count = operations / 2
        let base = timeline.value
        let timeline = self.timeline
        let echo = try Worker(name: "bench-pong") {
            for round in 0..<UInt64(count) {
                try? timeline.wait(for: base + 2 * round + 1, timeoutNanoseconds: Poller.forever)
                try? timeline.signal(to: base + 2 * round + 2)
            }
        }
        for round in 0..<UInt64(count) {
            try timeline.signal(to: base + 2 * round + 1)
            try timeline.wait(for: base + 2 * round + 2, timeoutNanoseconds: Poller.forever)
        }
        echo.join()
    }

    func runFloor() throws {
        let count = UInt32(operations / 2)
        let address = word.base.assumingMemoryBound(to: UInt32.self)
        let start = cmagma_atomic_load_u32(address)
        let shared = FutexWord(address: address)
        let echo = try Worker(name: "bench-pong") {
            for round in 0..<count {
                shared.wait(until: start &+ 2 &* round &+ 1)
                shared.store(start &+ 2 &* round &+ 2)
            }
        }
        for round in 0..<count {
            shared.store(start &+ 2 &* round &+ 1)
            shared.wait(until: start &+ 2 &* round &+ 2)
        }
        echo.join()
    }

    func close() { connection.release() }
}

/// The floor's futex word: stores wake every waiter; a wait sleeps while the word differs.
private struct FutexWord: @unchecked Sendable {
    let address: UnsafeMutablePointer<UInt32>

    func store(_ value: UInt32) {
        cmagma_atomic_store_u32(address, value)
        _ = cmagma_futex_wake_all(address)
    }

    func wait(until value: UInt32) {
        while true {
            let seen = cmagma_atomic_load_u32(address)
            if seen == value { return }
            var word: UnsafeMutablePointer<UInt32>? = address
            var expected = seen
            _ = cmagma_futex_waitv(&word, &expected, 1, .max)
        }
    }
}
