import Glibc
import MagmaPlatform

/// Memory both sides of a ring map: a range of a memfd (`SharedMemory`), a guest's resource, the
/// host's view of the same guest pages, or any mapping the caller keeps valid.
///
/// The other side may write any byte at any time, so nothing read from here is trusted: header
/// words are read with atomic loads, record bytes are copied out before they are looked at, and
/// every offset is checked against the sizes this side recorded when it attached.
public struct RingRegion: @unchecked Sendable {
    /// The region's first byte (the header's), 8-byte aligned.
    public let base: UnsafeMutableRawPointer
    /// The region's length in bytes.
    public let length: Int
    /// What keeps the memory mapped (for example its `SharedMemory`), if anything.
    private let owner: AnyObject?

    /// A region over `length` bytes at `base`, which the caller keeps mapped while the ring is used.
    public init(base: UnsafeMutableRawPointer, length: Int) throws(RingError) {
        try self.init(base: base, length: length, owner: nil)
    }

    /// A region over `buffer` (a mapping of a guest's resource, the host's view of the same guest
    /// pages, ...), which the caller keeps mapped while the ring is used.
    public init(_ buffer: UnsafeMutableRawBufferPointer) throws(RingError) {
        guard let base = buffer.baseAddress else { throw .regionTooSmall(bytes: 0, needed: RingLayout.regionSize(ringSize: RingLayout.minimumRingSize)) }
        try self.init(base: base, length: buffer.count, owner: nil)
    }

    /// The bytes `[offset, offset + length)` of `memory` (all of it from `offset` by default);
    /// the region keeps `memory` mapped.
    public init(_ memory: SharedMemory, offset: Int = 0, length: Int? = nil) throws(RingError) {
        let length = length ?? memory.size - offset
        guard offset >= 0, length >= 0, offset <= memory.size - length else {
            throw .regionTooSmall(bytes: memory.size, needed: offset &+ length)
        }
        try self.init(base: memory.base + offset, length: length, owner: memory)
    }

    private init(base: UnsafeMutableRawPointer, length: Int, owner: AnyObject?) throws(RingError) {
        guard Int(bitPattern: base) % RingLayout.recordAlignment == 0 else { throw .misaligned }
        guard length >= RingLayout.regionSize(ringSize: RingLayout.minimumRingSize) else {
            throw .regionTooSmall(bytes: length, needed: RingLayout.regionSize(ringSize: RingLayout.minimumRingSize))
        }
        self.base = base
        self.length = length
        self.owner = owner
    }

    /// Writes a fresh header for a ring of `ringSize` body bytes (offsets, seqnos and status
    /// zero) and zeroes the body. Done once, by whichever side creates the memory, before the
    /// other side attaches.
    public func format(ringSize: Int) throws(RingError) {
        guard RingLayout.isValidRingSize(UInt64(ringSize)) else { throw .badRingSize(UInt64(ringSize)) }
        let needed = RingLayout.regionSize(ringSize: ringSize)
        guard needed <= length else { throw .regionTooSmall(bytes: length, needed: needed) }
        memset(base, 0, needed)
        SharedWords.storeRelease32(base + RingLayout.versionOffset, RingLayout.version)
        SharedWords.storeRelease32(base + RingLayout.ringSizeOffset, UInt32(ringSize))
        SharedWords.storeRelease32(base + RingLayout.headerSizeOffset, UInt32(RingLayout.headerSize))
        SharedWords.storeSequential32(base + RingLayout.magicOffset, RingLayout.magic)
    }

    /// Checks the fixed header fields (magic, version, header size, ring size against the
    /// region) and returns the ring size.
    func validatedRingSize() throws(RingError) -> Int {
        let magic = SharedWords.loadAcquire32(base + RingLayout.magicOffset)
        guard magic == RingLayout.magic else { throw .badMagic(magic) }
        let version = SharedWords.loadAcquire32(base + RingLayout.versionOffset)
        guard version == RingLayout.version else { throw .unsupportedVersion(version) }
        let headerSize = SharedWords.loadAcquire32(base + RingLayout.headerSizeOffset)
        guard headerSize == UInt32(RingLayout.headerSize) else { throw .badHeaderSize(headerSize) }
        let ringSize = SharedWords.loadAcquire32(base + RingLayout.ringSizeOffset)
        guard RingLayout.isValidRingSize(UInt64(ringSize)) else { throw .badRingSize(UInt64(ringSize)) }
        guard RingLayout.regionSize(ringSize: Int(ringSize)) <= length else {
            throw .regionTooSmall(bytes: length, needed: RingLayout.regionSize(ringSize: Int(ringSize)))
        }
        return Int(ringSize)
    }

    /// The header word at `offset`.
    func word(_ offset: Int) -> UnsafeMutableRawPointer { base + offset }

    /// The body's first byte.
    var body: UnsafeMutableRawPointer { base + RingLayout.headerSize }
}

/// Copies into and out of a ring body of `size` bytes (a power of two), wrapping at its end.
struct RingBody {
    let start: UnsafeMutableRawPointer
    let size: Int

    /// Copies `count` bytes starting at free-running `offset` to `destination`.
    func copyOut(from offset: UInt64, count: Int, to destination: UnsafeMutableRawPointer) {
        let position = Int(offset & UInt64(size - 1))
        let first = min(count, size - position)
        memcpy(destination, start + position, first)
        if first < count { memcpy(destination + first, start, count - first) }
    }

    /// Copies `count` bytes from `source` to free-running `offset`.
    func copyIn(to offset: UInt64, count: Int, from source: UnsafeRawPointer) {
        let position = Int(offset & UInt64(size - 1))
        let first = min(count, size - position)
        memcpy(start + position, source, first)
        if first < count { memcpy(start, source + first, count - first) }
    }
}
