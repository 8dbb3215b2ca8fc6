import Glibc
import MagmaPlatform

/// One range of guest physical memory as the VMM shares it (a vhost-user memory table entry):
/// `size` bytes of guest physical memory from `guestAddress`, held by `memfd` from byte
/// `fileOffset` on (vhost-user's `mmap_offset`).
///
/// Guest address, size and offset must be whole pages (QEMU's RAM regions are), so a resource's
/// guest pages can be mapped straight from the descriptor.
public struct GuestMemoryRegion: Sendable {
    /// The first guest physical address of the region.
    public let guestAddress: UInt64
    /// Bytes in the region.
    public let size: UInt64
    /// The descriptor holding the region's pages (a memfd of the guest's RAM, shared).
    public let memfd: OwnedFileDescriptor
    /// Where in `memfd` the byte at `guestAddress` is.
    public let fileOffset: UInt64

    /// A region of `size` bytes at `guestAddress`, held by `memfd` from `fileOffset` on.
    public init(guestAddress: UInt64, size: UInt64, memfd: OwnedFileDescriptor, fileOffset: UInt64 = 0) {
        self.guestAddress = guestAddress
        self.size = size
        self.memfd = memfd
        self.fileOffset = fileOffset
    }

    /// The guest address one past the region (its address + size never overflows once checked).
    var end: UInt64 { guestAddress &+ size }

    /// Whether the guest range `address ..< address + length` (already checked not to
    /// overflow, length > 0) lies inside the region.
    func contains(_ address: UInt64, length: UInt64) -> Bool {
        address >= guestAddress && address - guestAddress <= size && length <= size - (address - guestAddress)
    }

    func overlaps(_ other: GuestMemoryRegion) -> Bool { guestAddress < other.end && other.guestAddress < end }

    /// Checks the region by itself: nonzero, whole pages, no overflow, a descriptor large
    /// enough (fstat).
    func validate() throws(GuestMemoryError) {
        guard size > 0 else { throw .emptyRegion(guestAddress: guestAddress) }
        let page = UInt64(SharedMemory.pageSize)
        guard guestAddress % page == 0, size % page == 0, fileOffset % page == 0 else {
            throw .unalignedRegion(guestAddress: guestAddress, size: size, fileOffset: fileOffset)
        }
        let (_, addressOverflow) = guestAddress.addingReportingOverflow(size)
        let (needed, offsetOverflow) = fileOffset.addingReportingOverflow(size)
        guard !addressOverflow, !offsetOverflow, size <= UInt64(Int.max), needed <= UInt64(Int64.max) else {
            throw .regionOverflow(guestAddress: guestAddress, size: size, fileOffset: fileOffset)
        }
        var info = stat()
        guard fstat(memfd.rawValue, &info) == 0 else { throw .systemCall(call: "fstat", errno: errno) }
        let fileSize = UInt64(max(0, info.st_size))
        guard fileSize >= needed else { throw .descriptorTooSmall(guestAddress: guestAddress, needed: needed, fileSize: fileSize) }
    }
}

/// A region of the table and this process's shared mapping of all of it, made once when the
/// region is added and unmapped when the last holder (the table, or a translated range still
/// in use) lets go.
final class MappedRegion: @unchecked Sendable {
    let region: GuestMemoryRegion
    /// Start of the mapping of the whole region (MAP_SHARED: the guest's own pages).
    let base: UnsafeMutableRawPointer

    /// Maps `region`, which `validate()` has accepted.
    init(validated region: GuestMemoryRegion) throws(GuestMemoryError) {
        let mapped = mmap(nil, Int(region.size), PROT_READ | PROT_WRITE, MAP_SHARED, region.memfd.rawValue, off_t(region.fileOffset))
        guard let mapped, mapped != MAP_FAILED else { throw .systemCall(call: "mmap", errno: errno) }
        self.region = region
        base = mapped
    }

    deinit { munmap(base, Int(region.size)) }
}
