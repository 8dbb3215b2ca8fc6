import Synchronization
import MagmaPlatform

/// One record as the consumer delivers it: its seqnos and a private copy of its payload.
public struct RingRecord {
    /// The record's seqno (1 for the first record of a ring).
    public let seqno: UInt64
    /// The seqno of another ring this record must not run before (0: none); see `RingLayout`.
    public let dependsOn: UInt64
    /// The payload, copied out of the shared memory (the producer cannot change it any more),
    /// valid only while the handler runs.
    public let payload: UnsafeRawBufferPointer

    init(seqno: UInt64, dependsOn: UInt64, payload: UnsafeRawBufferPointer) {
        self.seqno = seqno
        self.dependsOn = dependsOn
        self.payload = payload
    }
}

/// The consumer (host) side of a ring: drains records in order, copying each out of the shared
/// memory before it is looked at, and publishes the read offset and completed seqno.
///
/// Nothing in the shared header is trusted. The consumer keeps its own read offset, seqnos and
/// ring size, and checks what the producer wrote against them on every pass: a write offset out
/// of range, a record whose length reaches past the ring or the write offset, a seqno out of
/// order or going backwards, a status word with a bogus value, or a changed fixed header field
/// is a `RingError` that stops the ring. The first call that finds it throws it; every later
/// call throws `RingError.stopped` without touching the memory again.
///
/// Use it from one thread at a time (it is not `Sendable`); `stopper` stops `run` from another.
public final class RingConsumer {
    /// What `run` does when the ring is empty.
    public struct Idle: Sendable {
        /// How long to spin (polling the write offset, status SPINNING) before sleeping.
        public var spinNanoseconds: UInt64
        /// Spins `spinNanoseconds` (`.max`: never sleeps) before sleeping.
        public init(spinNanoseconds: UInt64 = 50_000) { self.spinNanoseconds = spinNanoseconds }
    }

    /// Stops a running `run` from any thread.
    public let stopper: RingStopper
    /// The completed seqno for other threads of the host (see `RingProgress`).
    public let progress: RingProgress
    /// What this consumer has drained: the completed seqno it published last.
    public private(set) var completedSeqno: UInt64
    /// Times `run` set ASLEEP. It then sleeps unless its re-check finds a record; the producer
    /// rings at most once for each, so this bounds the doorbell's rings.
    public private(set) var sleepsAnnounced = 0
    /// Times `run` went to sleep.
    public private(set) var sleeps = 0
    /// The error that stopped the ring, once one did.
    public private(set) var failure: RingError?

    private let region: RingRegion
    private let body: RingBody
    private let ringSize: Int
    private let sleeper: any RingSleeper
    private var read: UInt64
    private var submitted: UInt64
    private var scratch: UnsafeMutableRawBufferPointer

    /// Attaches to a formatted ring (`RingRegion.format`), resuming from the read offset and
    /// completed seqno in its header; `sleeper` is where `run` sleeps. Throws if the header is
    /// not a valid version-1 ring that fits the region.
    public init(region: RingRegion, sleeper: any RingSleeper) throws(RingError) {
        ringSize = try region.validatedRingSize()
        self.region = region
        self.sleeper = sleeper
        body = RingBody(start: region.body, size: ringSize)
        read = SharedWords.loadAcquire64(region.word(RingLayout.readOffset))
        completedSeqno = SharedWords.loadAcquire64(region.word(RingLayout.completedOffset))
        submitted = SharedWords.loadAcquire64(region.word(RingLayout.submittedOffset))
        guard read % UInt64(RingLayout.recordAlignment) == 0 else {
            throw .readOffsetOutOfRange(read: read, write: SharedWords.loadAcquire64(region.word(RingLayout.writeOffset)), ringSize: ringSize)
        }
        guard completedSeqno <= submitted else { throw .completedSeqnoOutOfRange(completed: completedSeqno, submitted: submitted) }
        stopper = RingStopper(sleeper: sleeper)
        progress = RingProgress(completed: completedSeqno)
        scratch = .allocate(byteCount: RingLayout.maximumPayload(ringSize: ringSize), alignment: 16)
    }

    deinit { scratch.deallocate() }

    /// Drains every record published so far, up to and including seqno `last`, calling
    /// `handler` for each in order, and returns how many it drained (0 when the ring is empty or
    /// `last` is drained already). Never sleeps or spins. Records past `last` stay in the ring
    /// for a later drain (an owner interleaving two rings drains one only as far as the other
    /// needs).
    @discardableResult
    public func drainAvailable(through last: UInt64 = .max, _ handler: (RingRecord) -> Void) throws(RingError) -> Int {
        guard failure == nil else { throw .stopped }
        do { return try drain(through: last, handler) } catch {
            failure = error
            throw error
        }
    }

    /// Drains records until `stopper.stop()` is called or the ring fails: spins for
    /// `idle.spinNanoseconds` when the ring is empty, then sets ASLEEP, checks the write offset
    /// once more (a record published meanwhile is drained, not slept on) and sleeps on the
    /// sleeper until the producer's doorbell rings. Throws the error that stopped the ring.
    public func run(idle: Idle = Idle(), _ handler: (RingRecord) -> Void) throws(RingError) {
        var status = RingStatus.active
        var idleSince: UInt64?
        while !stopper.isStopped {
            if try drainAvailable(handler) > 0 {
                if status != .active { setStatus(.active, &status) }
                idleSince = nil
                continue
            }
            let now = Clock.monotonicNanoseconds()
            if idleSince == nil { idleSince = now }
            if let since = idleSince, now &- since < idle.spinNanoseconds {
                if status != .spinning { setStatus(.spinning, &status) }
                SharedWords.spinHint()
                continue
            }
            status = .asleep
            if announceSleep() && !stopper.isStopped {
                sleeps += 1
                sleeper.sleep()
            }
            setStatus(.active, &status)
            idleSince = nil
        }
    }

    private func setStatus(_ new: RingStatus, _ status: inout RingStatus) {
        setStatus(new)
        status = new
    }

    /// Stores ACTIVE or SPINNING in the status word, for an owner that drains several rings
    /// in a loop of its own (`drainAvailable`) instead of `run`.
    public func setStatus(_ status: RingStatus) {
        SharedWords.storeRelease32(region.word(RingLayout.statusOffset), status.rawValue)
    }

    /// Stores ASLEEP, then loads the write offset again (both sequentially consistent), as
    /// `run` does before it sleeps; true if the ring is still empty, so its owner may sleep: the
    /// producer's next record then rings the doorbell. False: a record arrived, drain it (and
    /// set ACTIVE). An owner of several rings sleeps only when this is true for every one.
    public func announceSleep() -> Bool {
        SharedWords.storeSequential32(region.word(RingLayout.statusOffset), RingStatus.asleep.rawValue)
        sleepsAnnounced += 1
        return SharedWords.loadSequential64(region.word(RingLayout.writeOffset)) == read
    }

    private func drain(through last: UInt64, _ handler: (RingRecord) -> Void) throws(RingError) -> Int {
        guard completedSeqno < last else { return 0 }
        try checkFixedFields()
        let statusWord = SharedWords.loadAcquire32(region.word(RingLayout.statusOffset))
        guard RingStatus(rawValue: statusWord) != nil else { throw .badStatus(statusWord) }
        let write = SharedWords.loadAcquire64(region.word(RingLayout.writeOffset))
        var available = write &- read
        guard available <= UInt64(ringSize) else { throw .writeOffsetOutOfRange(write: write, read: read, ringSize: ringSize) }
        guard available > 0 else { return 0 }
        let newSubmitted = SharedWords.loadAcquire64(region.word(RingLayout.submittedOffset))
        guard newSubmitted >= submitted else { throw .submittedSeqnoBackwards(previous: submitted, found: newSubmitted) }
        submitted = newSubmitted
        var drained = 0
        while available > 0, completedSeqno < last {
            let (seqno, dependsOn, length, size) = try nextRecordHeader(available: available)
            body.copyOut(from: read &+ UInt64(RingLayout.recordHeaderSize), count: length, to: scratch.baseAddress!)
            read &+= size
            available -= size
            SharedWords.storeRelease64(region.word(RingLayout.readOffset), read)
            handler(RingRecord(seqno: seqno, dependsOn: dependsOn, payload: UnsafeRawBufferPointer(rebasing: scratch[..<length])))
            completedSeqno = seqno
            progress.advance(to: seqno)
            SharedWords.storeRelease64(region.word(RingLayout.completedOffset), seqno)
            drained += 1
        }
        return drained
    }

    /// Copies out and checks the header of the record at the read offset; returns its seqno,
    /// depends-on seqno, payload length and body bytes.
    private func nextRecordHeader(available: UInt64) throws(RingError) -> (UInt64, UInt64, Int, UInt64) {
        guard available >= UInt64(RingLayout.recordHeaderSize) else { throw .truncatedRecord(available: available) }
        var header = (UInt32(0), UInt32(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &header) { body.copyOut(from: read, count: RingLayout.recordHeaderSize, to: $0.baseAddress!) }
        let length = UInt64(UInt32(littleEndian: header.0))
        let flags = UInt32(littleEndian: header.1)
        let seqno = UInt64(littleEndian: header.2)
        let dependsOn = UInt64(littleEndian: header.3)
        guard flags == 0 else { throw .reservedFlags(flags) }
        guard length <= UInt64(RingLayout.maximumPayload(ringSize: ringSize)), let size = RingLayout.recordSize(payloadLength: length) else {
            throw .recordLargerThanRing(length: length, ringSize: ringSize)
        }
        guard size <= available else { throw .recordPastWriteOffset(length: length, available: available) }
        guard seqno == completedSeqno &+ 1 else { throw .seqnoOutOfOrder(expected: completedSeqno &+ 1, found: seqno) }
        guard seqno <= submitted else { throw .seqnoPastSubmitted(seqno: seqno, submitted: submitted) }
        return (seqno, dependsOn, Int(length), size)
    }

    /// The magic, version and sizes must still say what they said when the ring was attached.
    private func checkFixedFields() throws(RingError) {
        try expect(RingLayout.magic, at: RingLayout.magicOffset)
        try expect(RingLayout.version, at: RingLayout.versionOffset)
        try expect(UInt32(ringSize), at: RingLayout.ringSizeOffset)
        try expect(UInt32(RingLayout.headerSize), at: RingLayout.headerSizeOffset)
    }

    private func expect(_ value: UInt32, at offset: Int) throws(RingError) {
        guard SharedWords.loadAcquire32(region.word(offset)) == value else { throw .headerChanged(offset: offset) }
    }
}

/// Stops a consumer's `run` from any thread: sets a flag `run` checks on every pass and
/// interrupts its sleep.
public final class RingStopper: Sendable {
    private let flag = Atomic<Bool>(false)
    private let sleeper: any RingSleeper

    init(sleeper: any RingSleeper) { self.sleeper = sleeper }

    /// Whether `stop` was called.
    public var isStopped: Bool { flag.load(ordering: .acquiring) }

    /// Makes `run` return after the record it is on (at once if it sleeps).
    public func stop() {
        flag.store(true, ordering: .releasing)
        sleeper.interrupt()
    }
}
