import Glibc
import MagmaPlatform

/// The producer (guest) side of a ring: writes length-prefixed records, publishes them, and
/// rings the consumer's doorbell only when it sees the consumer ASLEEP, so a stream of records
/// to an awake consumer makes no system call at all.
///
/// The producer trusts the consumer no more than the consumer trusts it: a read offset or
/// completed seqno out of range is a `RingError`, never an overwrite of unread records.
/// Use it from one thread at a time (it is not `Sendable`).
public final class RingProducer {
    /// The seqno of the last record submitted (0 before the first).
    public private(set) var submittedSeqno: UInt64
    /// Times this producer rang the doorbell.
    public private(set) var pings = 0
    /// How long a wait for room or for a seqno spins before it sleeps.
    public var spinNanoseconds = RingProducer.defaultSpinNanoseconds
    /// 100 µs: what `spinNanoseconds` starts as.
    public static let defaultSpinNanoseconds: UInt64 = 100_000

    private let region: RingRegion
    private let body: RingBody
    private let ringSize: Int
    private let doorbell: any RingDoorbell
    private var write: UInt64

    /// Attaches to a formatted ring (`RingRegion.format`), resuming after the last record its
    /// header says was submitted; `doorbell` wakes a sleeping consumer.
    public init(region: RingRegion, doorbell: any RingDoorbell) throws(RingError) {
        ringSize = try region.validatedRingSize()
        self.region = region
        self.doorbell = doorbell
        body = RingBody(start: region.body, size: ringSize)
        write = SharedWords.loadAcquire64(region.word(RingLayout.writeOffset))
        submittedSeqno = SharedWords.loadAcquire64(region.word(RingLayout.submittedOffset))
    }

    /// The largest payload one record can carry.
    public var maximumPayload: Int { RingLayout.maximumPayload(ringSize: ringSize) }

    /// The completed seqno the consumer published.
    public func completedSeqno() throws(RingError) -> UInt64 {
        let completed = SharedWords.loadAcquire64(region.word(RingLayout.completedOffset))
        guard completed <= submittedSeqno else { throw .completedSeqnoOutOfRange(completed: completed, submitted: submittedSeqno) }
        return completed
    }

    /// Writes `payload` as the next record and publishes it; returns its seqno. `dependsOn`
    /// names a seqno of another ring the record must not run before (0: none), carried in the
    /// record's header for the consumer's owner. Waits (spinning for `spinNanoseconds`, then
    /// sleeping in short steps) up to `timeoutNanoseconds` for room; a payload larger than the ring can ever hold
    /// is refused with `recordTooLarge`.
    @discardableResult
    public func submit(_ payload: UnsafeRawBufferPointer, dependsOn: UInt64 = 0,
                       timeoutNanoseconds: UInt64 = Poller.forever) throws(RingError) -> UInt64 {
        guard payload.count <= maximumPayload, let size = RingLayout.recordSize(payloadLength: UInt64(payload.count)) else {
            throw .recordTooLarge(length: payload.count, maximum: maximumPayload)
        }
        try waitFor(timeoutNanoseconds: timeoutNanoseconds) { () throws(RingError) in try room() >= size }
        let seqno = submittedSeqno + 1
        var header = (UInt32(payload.count).littleEndian, UInt32(0), seqno.littleEndian, dependsOn.littleEndian)
        withUnsafeBytes(of: &header) { body.copyIn(to: write, count: RingLayout.recordHeaderSize, from: $0.baseAddress!) }
        if let source = payload.baseAddress {
            body.copyIn(to: write &+ UInt64(RingLayout.recordHeaderSize), count: payload.count, from: source)
        }
        let padding = Int(size) - RingLayout.recordHeaderSize - payload.count
        if padding > 0 {
            let zeros: UInt64 = 0
            withUnsafeBytes(of: zeros) { body.copyIn(to: write &+ size &- UInt64(padding), count: padding, from: $0.baseAddress!) }
        }
        write &+= size
        submittedSeqno = seqno
        SharedWords.storeRelease64(region.word(RingLayout.submittedOffset), seqno)
        SharedWords.storeSequential64(region.word(RingLayout.writeOffset), write)
        wakeIfAsleep()
        return seqno
    }

    /// Waits until the consumer has completed `seqno` (or a later one), spinning for
    /// `spinNanoseconds` and then sleeping in short steps, up to `timeoutNanoseconds`.
    public func wait(forCompleted seqno: UInt64, timeoutNanoseconds: UInt64 = Poller.forever) throws(RingError) {
        try waitFor(timeoutNanoseconds: timeoutNanoseconds) { () throws(RingError) in try completedSeqno() >= seqno }
    }

    /// Rings the doorbell if the consumer said ASLEEP, taking the status back to ACTIVE first
    /// so that of the records published while it sleeps only the first rings.
    private func wakeIfAsleep() {
        let status = region.word(RingLayout.statusOffset)
        guard SharedWords.loadSequential32(status) == RingStatus.asleep.rawValue else { return }
        guard SharedWords.compareExchange32(status, expected: RingStatus.asleep.rawValue, desired: RingStatus.active.rawValue)
                == RingStatus.asleep.rawValue else { return }
        pings += 1
        doorbell.ring()
    }

    /// Free body bytes, from the consumer's read offset (checked).
    private func room() throws(RingError) -> UInt64 {
        let read = SharedWords.loadAcquire64(region.word(RingLayout.readOffset))
        let used = write &- read
        guard used <= UInt64(ringSize) else { throw .readOffsetOutOfRange(read: read, write: write, ringSize: ringSize) }
        return UInt64(ringSize) - used
    }

    private func waitFor(timeoutNanoseconds: UInt64, _ done: () throws(RingError) -> Bool) throws(RingError) {
        var backoff = RingBackoff(spinNanoseconds: spinNanoseconds)
        while try !done() {
            guard backoff.pause(timeoutNanoseconds: timeoutNanoseconds) else { throw .timedOut }
        }
    }
}

/// How a side of a ring waits for the other: spins for a while, then sleeps in steps doubling
/// from 1 µs to 1 ms, so that a peer that fell behind (or shares this core) gets the CPU.
public struct RingBackoff {
    private let spinNanoseconds: UInt64
    private var start: UInt64?
    private var sleep: UInt64 = 1_000

    /// Spins for `spinNanoseconds` before the first sleep.
    public init(spinNanoseconds: UInt64) { self.spinNanoseconds = spinNanoseconds }

    /// Waits a little: a spin hint, or a short sleep once the spinning time is over. Returns
    /// false once `timeoutNanoseconds` have passed since the first pause.
    public mutating func pause(timeoutNanoseconds: UInt64 = Poller.forever) -> Bool {
        let now = Clock.monotonicNanoseconds()
        let elapsed = now &- (start ?? now)
        if start == nil { start = now }
        if elapsed >= timeoutNanoseconds { return false }
        if elapsed < spinNanoseconds {
            SharedWords.spinHint()
            return true
        }
        var request = timespec(tv_sec: 0, tv_nsec: Int(sleep))
        nanosleep(&request, nil)
        sleep = min(sleep * 2, 1_000_000)
        return true
    }
}
