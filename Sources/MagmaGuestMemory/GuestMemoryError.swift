/// Why guest memory refused a region, an address or a resource's backing. Every check that can
/// fail on what a guest (or its VMM) hands the host throws one of these; nothing traps, and the
/// memory table is unchanged by a refused call.
public enum GuestMemoryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A region of zero bytes.
    case emptyRegion(guestAddress: UInt64)
    /// A region whose guest address, size or descriptor offset is not a whole number of pages.
    case unalignedRegion(guestAddress: UInt64, size: UInt64, fileOffset: UInt64)
    /// A region whose guest address + size, or descriptor offset + size, passes 2^64 (or whose
    /// size does not fit this process's address space).
    case regionOverflow(guestAddress: UInt64, size: UInt64, fileOffset: UInt64)
    /// A region that overlaps one already in the table (or another of the same call).
    case overlappingRegions(guestAddress: UInt64, size: UInt64, existingAddress: UInt64, existingSize: UInt64)
    /// A region whose descriptor holds fewer bytes than its offset + size (fstat).
    case descriptorTooSmall(guestAddress: UInt64, needed: UInt64, fileSize: UInt64)
    /// A system call on a region's descriptor failed (fstat, mmap), with its errno.
    case systemCall(call: String, errno: Int32)
    /// A region whose descriptor is not a size-sealed memfd, where the transport requires one
    /// (the socket emulation: a descriptor its guest could truncate would turn the host's access
    /// to the region into SIGBUS).
    case notSizeSealed(guestAddress: UInt64)
    /// The table already holds as many regions as it may (`GuestMemory.regionLimit`).
    case regionLimit(limit: Int)
    /// No region starts at this guest address (remove).
    case noRegion(guestAddress: UInt64)
    /// A guest range of zero bytes, where bytes are needed.
    case zeroLength(guestAddress: UInt64)
    /// A guest range whose address + length passes 2^64.
    case rangeOverflow(guestAddress: UInt64, length: UInt64)
    /// A guest range that does not lie inside one region of the table.
    case outsideMemory(guestAddress: UInt64, length: UInt64)
    /// A backing entry (its index in the list) whose address or length is not whole pages.
    case unalignedEntry(index: Int, guestAddress: UInt64, length: UInt64)
    /// Two backing entries (their indices) that cover the same guest bytes.
    case overlappingEntries(first: Int, second: Int)
    /// A backing list with no entries, or more than the limit allows.
    case entryCount(count: Int, limit: Int)
    /// A backing list whose entries add up to more bytes than the limit allows.
    case backingTooLarge(bytes: UInt64, limit: UInt64)
    /// A view that needs more kernel mappings than the guest has left (its live views hold the
    /// rest).
    case mappingLimit(needed: Int, inUse: Int, limit: Int)

    public var description: String {
        switch self {
        case .emptyRegion(let address):
            "guest memory region at \(hex(address)) has zero bytes"
        case .unalignedRegion(let address, let size, let offset):
            "guest memory region at \(hex(address)) (\(size) bytes from descriptor offset \(hex(offset))) is not page-aligned"
        case .regionOverflow(let address, let size, let offset):
            "guest memory region at \(hex(address)) of \(size) bytes from descriptor offset \(hex(offset)) passes the end of the address space"
        case .overlappingRegions(let address, let size, let existing, let existingSize):
            "guest memory region at \(hex(address)) (\(size) bytes) overlaps the region at \(hex(existing)) (\(existingSize) bytes)"
        case .descriptorTooSmall(let address, let needed, let fileSize):
            "guest memory region at \(hex(address)) needs \(needed) bytes of its descriptor, which holds \(fileSize)"
        case .systemCall(let call, let code):
            "\(call) failed: errno \(code)"
        case .notSizeSealed(let address):
            "guest memory region at \(hex(address)): its descriptor is not a size-sealed memfd"
        case .regionLimit(let limit):
            "guest memory already has \(limit) regions, the most it may have"
        case .noRegion(let address):
            "no guest memory region starts at \(hex(address))"
        case .zeroLength(let address):
            "guest range at \(hex(address)) has zero bytes"
        case .rangeOverflow(let address, let length):
            "guest range at \(hex(address)) of \(length) bytes passes the end of the address space"
        case .outsideMemory(let address, let length):
            "guest range at \(hex(address)) of \(length) bytes is not inside one region of guest memory"
        case .unalignedEntry(let index, let address, let length):
            "backing entry \(index) (\(hex(address)), \(length) bytes) is not whole pages"
        case .overlappingEntries(let first, let second):
            "backing entries \(first) and \(second) cover the same guest pages"
        case .entryCount(let count, let limit):
            "a backing of \(count) entries: between 1 and \(limit) are allowed"
        case .backingTooLarge(let bytes, let limit):
            "a backing of \(bytes) bytes passes the limit of \(limit)"
        case .mappingLimit(let needed, let inUse, let limit):
            "a view of \(needed) mappings: this guest's views hold \(inUse) of at most \(limit)"
        }
    }
}

private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
