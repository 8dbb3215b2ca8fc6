/// The host bytes of one guest range inside one region: `bytes` is bounds-checked by the
/// translation and stays valid while this value is held (it keeps the region's mapping alive,
/// even after the region is removed from the table).
///
/// The guest may write these bytes at any moment: read what the host acts on once, into host
/// memory, and check it there (never read a length twice).
public struct GuestRange: @unchecked Sendable {
    private let region: MappedRegion
    /// The guest address of the range's first byte.
    public let guestAddress: UInt64
    /// The range's bytes in this process.
    public let bytes: UnsafeMutableRawBufferPointer

    init(region: MappedRegion, offset: Int, length: Int) {
        self.region = region
        guestAddress = region.region.guestAddress + UInt64(offset)
        bytes = UnsafeMutableRawBufferPointer(start: region.base + offset, count: length)
    }

    /// A copy of the `T` at byte `offset` of the range (any alignment). Throws if it does not fit.
    public func load<T: BitwiseCopyable>(_ type: T.Type = T.self, at offset: Int = 0) throws(GuestMemoryError) -> T {
        try check(offset, MemoryLayout<T>.size)
        return bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
    }

    /// Writes `value` at byte `offset` of the range (any alignment). Throws if it does not fit.
    public func store<T: BitwiseCopyable>(_ value: T, at offset: Int = 0) throws(GuestMemoryError) {
        try check(offset, MemoryLayout<T>.size)
        bytes.storeBytes(of: value, toByteOffset: offset, as: T.self)
    }

    /// A copy of the range's bytes.
    public func copyBytes() -> [UInt8] { Array(bytes) }

    private func check(_ offset: Int, _ size: Int) throws(GuestMemoryError) {
        guard offset >= 0, offset <= bytes.count, size <= bytes.count - offset else {
            throw .outsideMemory(guestAddress: guestAddress &+ UInt64(truncatingIfNeeded: offset), length: UInt64(size))
        }
    }
}
