/// The fixed layout of a ring in shared memory, version 1. Every field is little-endian.
///
/// The region starts with a 192-byte header, then the body of `ringSize` bytes. The header's
/// three 64-byte lines separate what is fixed, what the producer writes and what the consumer
/// writes, so the two sides never write the same cache line:
///
/// | offset | size | field | written by |
/// |---:|---:|---|---|
/// | 0 | 4 | magic, `0x474E_524D` ("MRNG" in memory order) | whoever formats |
/// | 4 | 4 | version, 1 | whoever formats |
/// | 8 | 4 | ring size: body bytes, a power of two from 64 to 2^30 | whoever formats |
/// | 12 | 4 | header size: the body's offset, 192 | whoever formats |
/// | 64 | 8 | write offset: body bytes written since the ring was formatted | producer |
/// | 72 | 8 | submitted seqno: the seqno of the last record published | producer |
/// | 128 | 8 | read offset: body bytes consumed since the ring was formatted | consumer |
/// | 136 | 8 | completed seqno: the seqno of the last record the consumer finished | consumer |
/// | 144 | 4 | status: ACTIVE 0, SPINNING 1, ASLEEP 2 | consumer (and the producer, ASLEEP -> ACTIVE, when it pings) |
///
/// All other header bytes are zero. Offsets run free (they are never wrapped); a byte's place
/// in the body is its offset modulo the ring size, so `write - read` is the bytes waiting.
///
/// A record starts at an offset that is a multiple of 8 and may wrap around the body's end:
///
/// | offset | size | field |
/// |---:|---:|---|
/// | 0 | 4 | payload length in bytes |
/// | 4 | 4 | flags, 0 in version 1 |
/// | 8 | 8 | seqno: the previous record's plus one, the first is 1 |
/// | 16 | 8 | depends-on seqno: a seqno of another ring this record must not run before (0: none). For Magma's virtio rings it names the seqno of the object-creation ring a queue submission needs complete; the ring carries it, the consumer's owner enforces it |
/// | 24 | length | payload, then zero padding to a multiple of 8 |
///
/// Memory ordering: the producer writes a record's bytes, then stores the submitted seqno
/// (release) and the write offset (sequentially consistent), then loads the status; the
/// consumer loads the write offset (acquire) before it reads the bytes it covers, and stores the
/// read offset (release) once it has copied them out. Before sleeping the consumer stores ASLEEP
/// and loads the write offset again, both sequentially consistent: of the two stores, one is
/// seen by the other side's load, so either the producer sees ASLEEP and pings or the consumer
/// sees the new record and does not sleep.
public enum RingLayout {
    /// The magic number at offset 0 ("MRNG" in memory order).
    public static let magic: UInt32 = 0x474E_524D
    /// The layout's version.
    public static let version: UInt32 = 1
    /// The header's size: the body starts here.
    public static let headerSize = 192
    /// The smallest ring size accepted.
    public static let minimumRingSize = 64
    /// The largest ring size accepted.
    public static let maximumRingSize = 1 << 30
    /// A record's header size; its payload follows.
    public static let recordHeaderSize = 24
    /// Records start at multiples of this.
    public static let recordAlignment = 8

    static let magicOffset = 0
    static let versionOffset = 4
    static let ringSizeOffset = 8
    static let headerSizeOffset = 12
    static let writeOffset = 64
    static let submittedOffset = 72
    static let readOffset = 128
    static let completedOffset = 136
    static let statusOffset = 144

    /// The bytes a region needs for a ring of `ringSize` body bytes.
    public static func regionSize(ringSize: Int) -> Int { headerSize + ringSize }

    /// The body bytes a record of `payloadLength` bytes occupies (header and padding included);
    /// nil if that overflows.
    public static func recordSize(payloadLength: UInt64) -> UInt64? {
        let mask = UInt64(recordAlignment - 1)
        let (sum, overflow) = payloadLength.addingReportingOverflow(UInt64(recordHeaderSize) + mask)
        return overflow ? nil : sum & ~mask
    }

    /// The largest payload a ring of `ringSize` bytes carries in one record.
    public static func maximumPayload(ringSize: Int) -> Int { ringSize - recordHeaderSize }

    /// Whether `size` is a ring size this layout accepts.
    public static func isValidRingSize(_ size: UInt64) -> Bool {
        size >= UInt64(minimumRingSize) && size <= UInt64(maximumRingSize) && size & (size - 1) == 0
    }
}

/// What the consumer's status word says. Stored as a 32-bit word at offset 144.
public enum RingStatus: UInt32, Sendable {
    /// Draining records: the producer need not ping.
    case active = 0
    /// Empty, polling for a little while: the producer need not ping.
    case spinning = 1
    /// Sleeping on its wake primitive: the producer must ping after publishing.
    case asleep = 2
}
