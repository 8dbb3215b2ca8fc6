import Glibc
import MagmaPlatform
import MagmaRing

/// Records through a MagmaRing from this thread to a consumer thread running `RingConsumer.run`
/// (awake: it spins while the ring is empty), against the floor: the same payload bytes copied
/// through a plain shared buffer of the same size with the same handshake (the producer copies
/// in and release-stores its write offset, the consumer acquire-loads it, copies out and
/// release-stores its read offset; a full buffer is waited for as the ring's producer waits,
/// `RingBackoff`), with no record header, no validation, no seqnos and no
/// status word. The ring's doorbell pings during the measured runs are a row of their own:
/// none is expected, as a steady stream to an awake consumer makes no system call.
final class RingThroughput: BenchmarkPath, ReportsCounts {
    let name: String
    let unit = "record"
    let operations: Int
    private let payload: [UInt8]
    private let ringMemory: SharedMemory
    private let region: RingRegion
    private let producer: RingProducer
    private let wakeup: EventfdWakeup
    private let raw: RawRing
    private var pingsBefore = 0
    private var recordsMeasured = 0

    init(operations: Int, payloadBytes: Int, ringSize: Int = 1 << 16) throws {
        self.operations = operations
        name = "ring records, \(payloadBytes)-byte payloads (cross-thread)"
        payload = (0..<payloadBytes).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        ringMemory = try SharedMemory.create(size: RingLayout.regionSize(ringSize: ringSize), name: "bench-ring")
        region = try RingRegion(ringMemory)
        try region.format(ringSize: ringSize)
        wakeup = EventfdWakeup(try EventSemaphore())
        producer = try RingProducer(region: region, doorbell: wakeup)
        raw = try RawRing(size: ringSize, payloadBytes: payloadBytes)
    }

    func runMagma() throws {
        let consumer = try RingConsumer(region: region, sleeper: wakeup)
        let box = ConsumerHandoff(consumer)
        let target = operations
        let pings = producer.pings
        let drain = try Worker(name: "bench-ring") {
            var count = 0
            var sum = 0
            try? box.consumer.run(idle: .init(spinNanoseconds: .max)) { record in
                sum &+= Int(record.payload.last ?? 0)
                count += 1
                if count == target { box.consumer.stopper.stop() }
            }
            box.checksum = sum
        }
        try payload.withUnsafeBytes { bytes in
            for _ in 0..<operations { try producer.submit(bytes) }
        }
        drain.join()
        recordsMeasured += operations
        pingsBefore += producer.pings - pings
    }

    func runFloor() throws { try raw.stream(payload, count: operations) }

    func countRows() -> [BenchmarkResult] {
        [BenchmarkResult(path: "ring doorbell pings, steady stream of \(recordsMeasured) records (\(payload.count) bytes)", unit: "pings",
                         count: "\(pingsBefore)")]
    }

    func close() {}
}

/// A path with rows that count rather than time, read after it was measured.
public protocol ReportsCounts {
    /// The counting rows.
    func countRows() -> [BenchmarkResult]
}

/// Hands a consumer to the thread that runs it, and its checksum back.
private final class ConsumerHandoff: @unchecked Sendable {
    let consumer: RingConsumer
    var checksum = 0
    init(_ consumer: RingConsumer) { self.consumer = consumer }
}

/// The floor's plain shared buffer: a write offset and a read offset on their own cache lines,
/// then the body; fixed-size payloads, copied in and out with wrap-around.
final class RawRing: @unchecked Sendable {
    private let memory: SharedMemory
    private let size: Int
    private let payloadBytes: Int
    private let scratch: UnsafeMutableRawPointer
    private var write: UInt64 = 0
    private var read: UInt64 = 0
    private(set) var checksum = 0

    init(size: Int, payloadBytes: Int) throws {
        memory = try SharedMemory.create(size: 128 + size, name: "bench-raw-ring")
        self.size = size
        self.payloadBytes = payloadBytes
        scratch = .allocate(byteCount: payloadBytes, alignment: 16)
    }

    deinit { scratch.deallocate() }

    private var writeWord: UnsafeMutableRawPointer { memory.base }
    private var readWord: UnsafeMutableRawPointer { memory.base + 64 }
    private var body: UnsafeMutableRawPointer { memory.base + 128 }

    /// `count` copies of `payload` from this thread to a consumer thread of its own, which sums
    /// a byte of each; or, given `batches`, drains as a ring's consumer does and hands it each
    /// pass's payloads together (`consumeBatches`).
    func stream(_ payload: [UInt8], count: Int, batches: (@Sendable ([UnsafeRawBufferPointer]) -> Void)? = nil) throws {
        let drain = try Worker(name: "bench-raw-ring") { [self] in
            if let batches { consumeBatches(count, batches) } else { consume(count) }
        }
        payload.withUnsafeBytes { bytes in
            for _ in 0..<count { produce(bytes) }
        }
        drain.join()
    }

    /// The producer's side: waits for room, copies in, publishes.
    func produce(_ bytes: UnsafeRawBufferPointer) {
        var backoff = RingBackoff(spinNanoseconds: RingProducer.defaultSpinNanoseconds)
        while write &- SharedWords.loadAcquire64(readWord) > UInt64(size - payloadBytes) { _ = backoff.pause() }
        copy(into: write, from: bytes.baseAddress!)
        write &+= UInt64(payloadBytes)
        SharedWords.storeRelease64(writeWord, write)
    }

    /// The consumer's side: `count` payloads, each copied out and summed.
    func consume(_ count: Int) {
        var sum = 0
        for _ in 0..<count {
            while SharedWords.loadAcquire64(writeWord) == read { SharedWords.spinHint() }
            copy(outOf: read, to: scratch)
            sum &+= Int(scratch.load(fromByteOffset: payloadBytes - 1, as: UInt8.self))
            read &+= UInt64(payloadBytes)
            SharedWords.storeRelease64(readWord, read)
        }
        checksum = sum
    }

    /// The consumer's side as a ring's consumer drains: each pass copies out every payload
    /// published so far (of the `count` in all), gives their room back and hands them to
    /// `handle` together.
    func consumeBatches(_ count: Int, _ handle: ([UnsafeRawBufferPointer]) -> Void) {
        let copies = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { copies.deallocate() }
        var left = count
        var payloads: [UnsafeRawBufferPointer] = []
        while left > 0 {
            var write = SharedWords.loadAcquire64(writeWord)
            while write == read {
                SharedWords.spinHint()
                write = SharedWords.loadAcquire64(writeWord)
            }
            let available = min(Int((write &- read) / UInt64(payloadBytes)), left)
            payloads.removeAll(keepingCapacity: true)
            for index in 0..<available {
                let copy = copies + index * payloadBytes
                self.copy(outOf: read, to: copy)
                payloads.append(UnsafeRawBufferPointer(start: copy, count: payloadBytes))
                read &+= UInt64(payloadBytes)
            }
            SharedWords.storeRelease64(readWord, read)
            handle(payloads)
            left -= available
        }
    }

    private func copy(into offset: UInt64, from source: UnsafeRawPointer) {
        let position = Int(offset & UInt64(size - 1))
        let first = min(payloadBytes, size - position)
        memcpy(body + position, source, first)
        if first < payloadBytes { memcpy(body, source + first, payloadBytes - first) }
    }

    private func copy(outOf offset: UInt64, to destination: UnsafeMutableRawPointer) {
        let position = Int(offset & UInt64(size - 1))
        let first = min(payloadBytes, size - position)
        memcpy(destination, body + position, first)
        if first < payloadBytes { memcpy(destination + first, body, payloadBytes - first) }
    }
}
