import MagmaPlatform

/// A one-entry TLB in front of an address space, for one executing wave or engine.
///
/// It keeps the memory of the cached page alive, so even a stale entry never points at
/// unmapped host memory; and it is dropped whenever the address space removes pages.
struct TranslationCache {
    let space: AddressSpace
    private var generation: UInt64
    private var page: UInt64 = .max
    private var access: GpuAccess = .read
    private var entry: PageEntry?

    init(_ space: AddressSpace) {
        self.space = space
        generation = space.generation.load(ordering: .acquiring)
    }

    /// Host address for `byteCount` bytes at `address`, which must not cross a page and must
    /// be aligned to `alignment`.
    mutating func pointer(_ address: UInt64, _ access: GpuAccess, alignment: UInt64 = 1) throws(GpuFault) -> UnsafeMutableRawPointer {
        guard address & (alignment - 1) == 0 else { throw GpuFault(address: address, access: access, reason: .misaligned) }
        let current = space.generation.load(ordering: .acquiring)
        let wanted = address >> PageEntry.pageShift
        if current != generation || wanted != page || access != self.access || entry == nil {
            entry = try space.translate(address, access)
            generation = current
            page = wanted
            self.access = access
        }
        return entry!.hostAddress + Int(address & (PageEntry.pageSize - 1))
    }
}
