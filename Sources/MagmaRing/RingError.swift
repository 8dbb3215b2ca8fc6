/// Why a ring cannot be used or a call on it failed. Every value read from the shared memory
/// that breaks the layout (`RingLayout`) is one of these, never a trap or an access outside the
/// region; on the consumer each stops the ring (see `RingConsumer`).
public enum RingError: Error, Equatable, Sendable {
    /// The region is not 8-byte aligned.
    case misaligned
    /// The region has `bytes` bytes where `needed` are needed.
    case regionTooSmall(bytes: Int, needed: Int)
    /// The header's magic number is not `RingLayout.magic`.
    case badMagic(UInt32)
    /// The header's version is not one this code reads.
    case unsupportedVersion(UInt32)
    /// The header's size field is not `RingLayout.headerSize`.
    case badHeaderSize(UInt32)
    /// A ring size that is not a power of two from 64 to 2^30 bytes.
    case badRingSize(UInt64)
    /// A fixed header field (magic, version, sizes) changed after the ring was attached.
    case headerChanged(offset: Int)
    /// The write offset is behind the read offset or more than a ring ahead of it.
    case writeOffsetOutOfRange(write: UInt64, read: UInt64, ringSize: Int)
    /// The read offset is ahead of the write offset or more than a ring behind it (seen by the producer).
    case readOffsetOutOfRange(read: UInt64, write: UInt64, ringSize: Int)
    /// Fewer bytes than a record header lie between the read and write offsets.
    case truncatedRecord(available: UInt64)
    /// A record's length prefix says more than the ring holds.
    case recordLargerThanRing(length: UInt64, ringSize: Int)
    /// A record's length prefix reaches past the write offset.
    case recordPastWriteOffset(length: UInt64, available: UInt64)
    /// A record's flags word is not zero.
    case reservedFlags(UInt32)
    /// A record's seqno is not the previous record's plus one.
    case seqnoOutOfOrder(expected: UInt64, found: UInt64)
    /// A record's seqno is past the submitted seqno published with it.
    case seqnoPastSubmitted(seqno: UInt64, submitted: UInt64)
    /// The submitted seqno went backwards.
    case submittedSeqnoBackwards(previous: UInt64, found: UInt64)
    /// The completed seqno is past the submitted one, or went backwards (seen by the producer).
    case completedSeqnoOutOfRange(completed: UInt64, submitted: UInt64)
    /// The status word holds none of ACTIVE, SPINNING, ASLEEP.
    case badStatus(UInt32)
    /// A record the producer was asked to write is larger than the whole ring.
    case recordTooLarge(length: Int, maximum: Int)
    /// The wait (for room, or for a seqno) ran out of time.
    case timedOut
    /// The ring was stopped by an earlier error, which was reported then.
    case stopped
}
