import MagmaPlatform
import MagmaRing
import MagmaTestSupport
import Synchronization
import Testing

/// A producer thread and a consumer thread on one ring: order, content, seqnos, the doorbell.
@Suite(.hangGuard) struct RingThreadTests {
    /// What a consumer thread saw, checked against the seeded payloads as it drains.
    final class Received: Sendable {
        let count = Atomic<Int>(0)
        let mismatches = Atomic<Int>(0)
        let failure = Locked<RingError?>(nil)
        var error: RingError? { failure.withLock { $0 } }
    }

    /// Consumes records on a new thread until stopped, checking each against
    /// `payload(seqno:seed:)` with lengths from `lengths`; `hold` runs first for each record.
    static func startConsumer(_ ring: TestRing, idle: RingConsumer.Idle, seed: UInt64, lengths: [Int],
                              received: Received, hold: @escaping @Sendable (UInt64) -> Void = { _ in }) throws -> (TestThread, RingStopper) {
        let consumer = try ring.consumer()
        let stopper = consumer.stopper
        let box = UncheckedBox(consumer)
        let thread = try TestThread {
            do throws(RingError) {
                try box.value.run(idle: idle) { record in
                    hold(record.seqno)
                    let index = Int(record.seqno) - 1
                    let good = index < lengths.count && record.dependsOn == record.seqno / 2
                        && Array(record.payload) == payload(seqno: record.seqno, seed: seed, length: lengths[index])
                    if !good { received.mismatches.add(1, ordering: .relaxed) }
                    received.count.add(1, ordering: .releasing)
                }
            } catch {
                received.failure.withLock { $0 = error }
            }
        }
        return (thread, stopper)
    }

    @Test func seededRecordsArriveInOrderWithTheirContent() throws {
        var random = SeededRandom(for: "ring records")
        let ring = try TestRing(ringSize: 4096)
        let maximum = RingLayout.maximumPayload(ringSize: 4096)
        let lengths = (0..<20_000).map { _ in
            switch Int.random(in: 0..<100, using: &random) {
            case 0: maximum                              // a whole ring: waits for it to empty, wraps
            case 1..<5: Int.random(in: 1_000...maximum, using: &random)
            default: Int.random(in: 0...200, using: &random)
            }
        }
        let received = Received()
        let (thread, stopper) = try Self.startConsumer(ring, idle: .init(spinNanoseconds: 20_000), seed: random.seed,
                                                       lengths: lengths, received: received)
        let producer = try ring.producer()
        for (index, length) in lengths.enumerated() {
            let seqno = UInt64(index + 1)
            let bytes = payload(seqno: seqno, seed: random.seed, length: length)
            let submitted = try bytes.withUnsafeBytes { try producer.submit($0, dependsOn: seqno / 2, timeoutNanoseconds: 30_000_000_000) }
            #expect(submitted == seqno)
        }
        try producer.wait(forCompleted: UInt64(lengths.count), timeoutNanoseconds: 30_000_000_000)
        stopper.stop()
        #expect(thread.join(), "\(random)")
        #expect(received.error == nil)
        #expect(received.count.load(ordering: .acquiring) == lengths.count)
        #expect(received.mismatches.load(ordering: .acquiring) == 0, "\(random)")
        #expect(try producer.completedSeqno() == UInt64(lengths.count))
    }

    @Test func aSteadyStreamToAnAwakeConsumerRingsNoDoorbell() throws {
        let ring = try TestRing(ringSize: 1 << 16)
        let lengths = [Int](repeating: 64, count: 50_000)
        let received = Received()
        // The consumer never sleeps while it runs: every record reaches it awake.
        let (thread, stopper) = try Self.startConsumer(ring, idle: .init(spinNanoseconds: .max), seed: 7,
                                                       lengths: lengths, received: received)
        #expect(eventually { ring.peek32(Field.status) != RingStatus.asleep.rawValue })
        let producer = try ring.producer()
        for seqno in 1...UInt64(lengths.count) {
            try payload(seqno: seqno, seed: 7, length: 64).withUnsafeBytes { _ = try producer.submit($0, dependsOn: seqno / 2) }
        }
        try producer.wait(forCompleted: UInt64(lengths.count), timeoutNanoseconds: 30_000_000_000)
        #expect(producer.pings == 0)
        #expect(ring.wakeup.ringCount == 0)
        stopper.stop()
        #expect(thread.join())
        #expect(received.mismatches.load(ordering: .acquiring) == 0)
        #expect(received.count.load(ordering: .acquiring) == lengths.count)
        #expect(ring.wakeup.wakeCount == 0)
    }

    @Test func aSleepingConsumerIsWokenByExactlyOnePing() throws {
        let ring = try TestRing(ringSize: 1 << 16)
        let lengths = [Int](repeating: 100, count: 20)
        let received = Received()
        // The consumer holds the first record of each burst until the burst is written, so it
        // is awake (ACTIVE) for the other nine whatever the scheduling.
        let gate = try EventSemaphore()
        let (thread, stopper) = try Self.startConsumer(ring, idle: .init(spinNanoseconds: 0), seed: 9, lengths: lengths,
                                                       received: received) { seqno in
            if seqno % 10 == 1 {
                _ = gate.wait(timeoutNanoseconds: 30_000_000_000)
                gate.reset()
            }
        }
        let producer = try ring.producer()
        for burst in 0..<2 {
            #expect(eventually { ring.peek32(Field.status) == RingStatus.asleep.rawValue })
            for seqno in UInt64(burst * 10 + 1)...UInt64(burst * 10 + 10) {
                try payload(seqno: seqno, seed: 9, length: 100).withUnsafeBytes { _ = try producer.submit($0, dependsOn: seqno / 2) }
            }
            gate.signal()
            try producer.wait(forCompleted: UInt64(burst * 10 + 10), timeoutNanoseconds: 30_000_000_000)
            // Ten records to a sleeping consumer: the first rings, the rest find it ACTIVE.
            #expect(producer.pings == burst + 1)
            #expect(ring.wakeup.ringCount == burst + 1)
        }
        stopper.stop()
        #expect(thread.join())
        #expect(received.error == nil)
        #expect(received.count.load(ordering: .acquiring) == 20)
        #expect(received.mismatches.load(ordering: .acquiring) == 0)
    }

    @Test func stopWakesASleepingConsumer() throws {
        let ring = try TestRing(ringSize: 4096)
        let received = Received()
        let (thread, stopper) = try Self.startConsumer(ring, idle: .init(spinNanoseconds: 0), seed: 1, lengths: [],
                                                       received: received)
        #expect(eventually { ring.peek32(Field.status) == RingStatus.asleep.rawValue })
        stopper.stop()
        #expect(thread.join())
        #expect(received.error == nil)
    }
}

/// Moves a non-Sendable value into the one thread that uses it from then on.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
