import MagmaPlatform
import MagmaRing
import MagmaTestSupport
import Testing

/// A producer that writes what it likes into the shared memory: each corruption is a typed
/// error that stops the ring once (later calls: `stopped`), never a trap or a read outside it.
@Suite(.hangGuard) struct RingHostileProducerTests {
    /// A ring of 4096 bytes, a consumer attached before anything was written, and a producer.
    struct Fixture {
        let ring: TestRing
        let consumer: RingConsumer
        let producer: RingProducer

        init() throws {
            ring = try TestRing(ringSize: 4096)
            consumer = try ring.consumer()
            producer = try ring.producer()
        }

        func submit(_ length: Int = 8) throws {
            try [UInt8](repeating: 0xA5, count: length).withUnsafeBytes { _ = try producer.submit($0) }
        }

        /// Drains, expecting `error`; then checks the ring stays stopped without reading again.
        func expectStopped(by error: RingError, sourceLocation: SourceLocation = #_sourceLocation) {
            var delivered = 0
            #expect(throws: error, sourceLocation: sourceLocation) { try consumer.drainAvailable { _ in delivered += 1 } }
            #expect(delivered == 0, sourceLocation: sourceLocation)
            #expect(consumer.failure == error, sourceLocation: sourceLocation)
            #expect(throws: RingError.stopped, sourceLocation: sourceLocation) { try consumer.drainAvailable { _ in } }
            #expect(throws: RingError.stopped, sourceLocation: sourceLocation) { try consumer.run { _ in } }
        }

        func drainOne() throws { #expect(try consumer.drainAvailable { _ in } == 1) }
    }

    @Test func aWriteOffsetMoreThanARingAheadStopsTheRing() throws {
        let f = try Fixture()
        f.ring.poke64(Field.write, 4096 + 8)
        f.expectStopped(by: .writeOffsetOutOfRange(write: 4104, read: 0, ringSize: 4096))
    }

    @Test func aWriteOffsetBehindTheReadOffsetStopsTheRing() throws {
        let f = try Fixture()
        try f.submit()
        try f.drainOne()
        f.ring.poke64(Field.write, 16)
        f.expectStopped(by: .writeOffsetOutOfRange(write: 16, read: 32, ringSize: 4096))
    }

    @Test func aLengthPrefixPastTheRingStopsTheRing() throws {
        let f = try Fixture()
        try f.submit()
        f.ring.poke32(Field.body, 0xFFFF_FFFF)
        f.expectStopped(by: .recordLargerThanRing(length: 0xFFFF_FFFF, ringSize: 4096))
    }

    @Test func aLengthPrefixPastTheWriteOffsetStopsTheRing() throws {
        let f = try Fixture()
        try f.submit()
        f.ring.poke32(Field.body, 100)
        f.expectStopped(by: .recordPastWriteOffset(length: 100, available: 32))
    }

    @Test func aWriteOffsetInsideARecordHeaderStopsTheRing() throws {
        let f = try Fixture()
        f.ring.poke64(Field.write, 8)
        f.expectStopped(by: .truncatedRecord(available: 8))
    }

    @Test func aSeqnoGoingBackwardsStopsTheRing() throws {
        let f = try Fixture()
        try f.submit()
        try f.submit()
        #expect(try f.consumer.drainAvailable { _ in } == 2)
        try f.submit()
        f.ring.poke64(Field.body + 64 + 8, 1)   // the third record (after two of 32 bytes) says seqno 1
        f.expectStopped(by: .seqnoOutOfOrder(expected: 3, found: 1))
    }

    @Test func aSeqnoPastTheSubmittedSeqnoStopsTheRing() throws {
        let f = try Fixture()
        try f.submit()
        f.ring.poke64(Field.submitted, 0)
        f.expectStopped(by: .seqnoPastSubmitted(seqno: 1, submitted: 0))
    }

    @Test func aSubmittedSeqnoGoingBackwardsStopsTheRing() throws {
        let f = try Fixture()
        try f.submit()
        try f.drainOne()
        try f.submit()
        f.ring.poke64(Field.submitted, 0)
        f.expectStopped(by: .submittedSeqnoBackwards(previous: 1, found: 0))
    }

    @Test func aBogusStatusWordStopsTheRing() throws {
        let f = try Fixture()
        try f.submit()
        f.ring.poke32(Field.status, 7)
        f.expectStopped(by: .badStatus(7))
    }

    @Test func nonZeroRecordFlagsStopTheRing() throws {
        let f = try Fixture()
        try f.submit()
        f.ring.poke32(Field.body + 4, 1)
        f.expectStopped(by: .reservedFlags(1))
    }

    @Test(arguments: zip([Field.magic, Field.version, Field.ringSize, Field.headerSize], [UInt32(0), 2, 8192, 64]))
    func aFixedHeaderFieldChangedAfterAttachingStopsTheRing(field: Int, value: UInt32) throws {
        let f = try Fixture()
        try f.submit()
        f.ring.poke32(field, value)
        f.expectStopped(by: .headerChanged(offset: field))
    }

    @Test func runReportsTheErrorOnceAndReturns() throws {
        let f = try Fixture()
        try f.submit()
        f.ring.poke32(Field.status, 99)
        #expect(throws: RingError.badStatus(99)) { try f.consumer.run(idle: .init(spinNanoseconds: .max)) { _ in } }
        #expect(throws: RingError.stopped) { try f.consumer.run { _ in } }
    }

    @Test func attachingRefusesHeadersThatAreNotARing() throws {
        let memory = try SharedMemory.create(size: 8192)
        let region = try RingRegion(memory)
        let sleeper = EventfdWakeup(try EventSemaphore())
        #expect(throws: RingError.badMagic(0)) { try RingConsumer(region: region, sleeper: sleeper) }
        try region.format(ringSize: 4096)
        let ring = TestRingView(region: region)
        ring.poke32(Field.version, 2)
        #expect(throws: RingError.unsupportedVersion(2)) { try RingConsumer(region: region, sleeper: sleeper) }
        try region.format(ringSize: 4096)
        ring.poke32(Field.ringSize, 1000)
        #expect(throws: RingError.badRingSize(1000)) { try RingConsumer(region: region, sleeper: sleeper) }
        ring.poke32(Field.ringSize, 8192)
        #expect(throws: RingError.regionTooSmall(bytes: 8192, needed: 8192 + 192)) { try RingProducer(region: region, doorbell: sleeper) }
        try region.format(ringSize: 4096)
        ring.poke64(Field.completed, 5)
        #expect(throws: RingError.completedSeqnoOutOfRange(completed: 5, submitted: 0)) { try RingConsumer(region: region, sleeper: sleeper) }
        #expect(throws: RingError.badRingSize(4097)) { try region.format(ringSize: 4097) }
        #expect(throws: RingError.regionTooSmall(bytes: 8192, needed: 8192 + 192)) { try region.format(ringSize: 8192) }
        #expect(throws: RingError.misaligned) { try RingRegion(base: memory.base + 4, length: 4096) }
        #expect(throws: RingError.regionTooSmall(bytes: 100, needed: 256)) { try RingRegion(base: memory.base, length: 100) }
        #expect(throws: RingError.regionTooSmall(bytes: 0, needed: 256)) { try RingRegion(UnsafeMutableRawBufferPointer(start: nil, count: 0)) }
        #expect(throws: RingError.regionTooSmall(bytes: 8192, needed: 9000)) { try RingRegion(memory, offset: 0, length: 9000) }
    }

    @Test func theProducerRefusesAReadOffsetOutOfRangeAndARecordLargerThanTheRing() throws {
        let f = try Fixture()
        let maximum = RingLayout.maximumPayload(ringSize: 4096)
        #expect(throws: RingError.recordTooLarge(length: maximum + 1, maximum: maximum)) { try f.submit(maximum + 1) }
        try f.submit(maximum)   // exactly a ring
        #expect(throws: RingError.timedOut) {
            try [UInt8](repeating: 1, count: 1).withUnsafeBytes { _ = try f.producer.submit($0, timeoutNanoseconds: 1_000_000) }
        }
        try f.drainOne()
        f.ring.poke64(Field.read, 8192)
        #expect(throws: RingError.readOffsetOutOfRange(read: 8192, write: 4096, ringSize: 4096)) { try f.submit() }
        f.ring.poke64(Field.completed, 9)
        #expect(throws: RingError.completedSeqnoOutOfRange(completed: 9, submitted: 1)) { try f.producer.wait(forCompleted: 1) }
    }

    @Test func recordsWrapAroundTheEndOfTheBody() throws {
        // Any mapping will do: here plain heap memory, as a buffer pointer.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: RingLayout.regionSize(ringSize: 256), alignment: 64)
        defer { buffer.deallocate() }
        let region = try RingRegion(buffer)
        try region.format(ringSize: 256)
        let wakeup = EventfdWakeup(try EventSemaphore())
        let consumer = try RingConsumer(region: region, sleeper: wakeup)
        let producer = try RingProducer(region: region, doorbell: wakeup)
        var seen: [[UInt8]] = []
        for seqno in 1...UInt64(40) {
            let bytes = payload(seqno: seqno, seed: 3, length: Int(seqno * 5 % 200))
            try bytes.withUnsafeBytes { _ = try producer.submit($0, dependsOn: seqno) }
            try consumer.drainAvailable { record in
                #expect(record.seqno == seqno && record.dependsOn == seqno)
                seen.append(Array(record.payload))
            }
            #expect(seen.last == bytes)
        }
        #expect(seen.count == 40)
        #expect(consumer.completedSeqno == 40)
        #expect(try producer.completedSeqno() == 40)
    }

    @Test func seededCorruptionOfHeaderAndBodyNeverTraps() throws {
        var random = SeededRandom(for: "ring corruption fuzz")
        var failures: [String: Int] = [:]
        for _ in 0..<3_000 {
            let ringSize = [64, 256, 1024].randomElement(using: &random)!
            let ring = try TestRing(ringSize: ringSize)
            let consumer = try ring.consumer()
            let producer = try ring.producer()
            for _ in 0..<Int.random(in: 0...20, using: &random) {
                let length = Int.random(in: 0...RingLayout.maximumPayload(ringSize: ringSize), using: &random)
                if try [UInt8](repeating: 0x5A, count: length).withUnsafeBytes({ try? producer.submit($0, timeoutNanoseconds: 0) }) == nil {
                    _ = try consumer.drainAvailable { _ in }
                }
            }
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                Self.corrupt(ring, ringSize: ringSize, using: &random)
            }
            var expected = consumer.completedSeqno + 1
            for _ in 0..<3 {
                do {
                    try consumer.drainAvailable { record in
                        #expect(record.seqno == expected, "\(random)")
                        #expect(record.payload.count <= RingLayout.maximumPayload(ringSize: ringSize), "\(random)")
                        expected += 1
                    }
                } catch RingError.stopped {
                    #expect(consumer.failure != nil, "\(random)")
                } catch {
                    failures["\(error)".prefix { $0 != "(" }.description, default: 0] += 1
                }
            }
        }
        print("ring corruption fuzz: errors by kind \(failures.sorted { $0.key < $1.key })")
        #expect(!failures.isEmpty)
    }

    /// Writes a random value into a header word or a random body byte.
    static func corrupt(_ ring: TestRing, ringSize: Int, using random: inout SeededRandom) {
        let words64 = [Field.write, Field.submitted, Field.read, Field.completed]
        let words32 = [Field.magic, Field.version, Field.ringSize, Field.headerSize, Field.status]
        switch Int.random(in: 0..<4, using: &random) {
        case 0:
            let field = words64.randomElement(using: &random)!
            let nudge = UInt64(bitPattern: Int64.random(in: -80...80, using: &random))
            ring.poke64(field, Bool.random(using: &random) ? ring.peek64(field) &+ nudge : random.next())
        case 1:
            let field = words32.randomElement(using: &random)!
            ring.poke32(field, Bool.random(using: &random) ? ring.peek32(field) &+ UInt32.random(in: 0...3, using: &random) : UInt32(truncatingIfNeeded: random.next()))
        default:
            let offset = Field.body + Int.random(in: 0..<ringSize, using: &random)
            (ring.region.base + offset).storeBytes(of: UInt8.random(in: 0...255, using: &random), as: UInt8.self)
        }
    }
}

/// Pokes a region's header like `TestRing` does, for a region made by hand.
struct TestRingView {
    let region: RingRegion
    func poke32(_ offset: Int, _ value: UInt32) { (region.base + offset).storeBytes(of: value.littleEndian, as: UInt32.self) }
    func poke64(_ offset: Int, _ value: UInt64) { (region.base + offset).storeBytes(of: value.littleEndian, as: UInt64.self) }
}
