import Glibc
import MagmaPlatform

/// One entry of a resource's backing: `length` bytes of guest memory from `address` (virtio-gpu's
/// `virtio_gpu_mem_entry`).
public struct GuestMemoryEntry: Sendable, Hashable {
    /// The guest physical address of the entry's first byte.
    public let address: UInt64
    /// Bytes in the entry.
    public let length: UInt32

    public init(address: UInt64, length: UInt32) {
        self.address = address
        self.length = length
    }
}

/// What one backing may hold. The defaults are QEMU's bound on a backing's entries (16384) and
/// 1 GiB of pages.
public struct GuestPagesLimits: Sendable, Equatable {
    /// The most entries one backing may have.
    public var maxEntries: Int
    /// The most bytes the entries of one backing may add up to.
    public var maxBytes: UInt64

    public init(maxEntries: Int = 16_384, maxBytes: UInt64 = 1 << 30) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }
}

extension GuestMemory {
    /// The guest pages `entries` name, in their order, as one contiguous host view with no copy:
    /// address space is reserved, then each entry's pages are mapped there from its region's
    /// descriptor (MAP_SHARED | MAP_FIXED), one after another. Writes through the view are the
    /// guest's own pages changing, and the guest's writes show in the view.
    ///
    /// Every entry must be whole pages, nonzero, inside guest memory (an entry across two
    /// adjacent regions is mapped from each), and no two entries may cover the same page; there
    /// must be 1 to `limits.maxEntries` of them, adding up to at most `limits.maxBytes`. Entries
    /// that follow each other in the same region are mapped as one piece; the pieces of every
    /// live view of this guest count against its `mappingLimit` (each is a kernel mapping, and
    /// the process has a fixed number of those for all guests). Anything else throws, with
    /// nothing mapped.
    public func pages(for entries: [GuestMemoryEntry], limits: GuestPagesLimits = GuestPagesLimits()) throws(GuestMemoryError) -> GuestPages {
        guard !entries.isEmpty, entries.count <= limits.maxEntries else { throw .entryCount(count: entries.count, limit: limits.maxEntries) }
        let page = UInt64(SharedMemory.pageSize)
        var total: UInt64 = 0
        for (index, entry) in entries.enumerated() {
            let length = UInt64(entry.length)
            guard length > 0 else { throw .zeroLength(guestAddress: entry.address) }
            guard entry.address % page == 0, length % page == 0 else {
                throw .unalignedEntry(index: index, guestAddress: entry.address, length: length)
            }
            guard !entry.address.addingReportingOverflow(length).overflow else {
                throw .rangeOverflow(guestAddress: entry.address, length: length)
            }
            let (sum, overflow) = total.addingReportingOverflow(length)
            guard !overflow, sum <= limits.maxBytes, sum <= UInt64(Int.max) else {
                throw .backingTooLarge(bytes: overflow ? UInt64.max : sum, limit: min(limits.maxBytes, UInt64(Int.max)))
            }
            total = sum
        }
        try Self.checkDisjoint(entries)
        var pieces: [(region: MappedRegion, address: UInt64, length: UInt64)] = []
        for entry in entries {
            guard let covering = regions(covering: entry.address, end: entry.address + UInt64(entry.length)) else {
                throw .outsideMemory(guestAddress: entry.address, length: UInt64(entry.length))
            }
            for piece in covering {
                if let last = pieces.last, last.region === piece.region, last.address + last.length == piece.address {
                    pieces[pieces.count - 1].length += piece.length
                } else {
                    pieces.append(piece)
                }
            }
        }
        try mappings.take(pieces.count)
        do { return try GuestPages(mapping: pieces, size: Int(total), budget: mappings) } catch {
            mappings.give(pieces.count)
            throw error
        }
    }

    /// Throws for the first two entries (by address) that share a byte.
    private static func checkDisjoint(_ entries: [GuestMemoryEntry]) throws(GuestMemoryError) {
        let order = entries.indices.sorted { entries[$0].address < entries[$1].address }
        for (earlier, later) in zip(order, order.dropFirst()) {
            let end = entries[earlier].address + UInt64(entries[earlier].length)
            if entries[later].address < end { throw .overlappingEntries(first: min(earlier, later), second: max(earlier, later)) }
        }
    }
}

/// A resource's guest pages as one contiguous view in this process: the guest's own pages,
/// mapped shared in the order of the backing's entries, with no copy. The view holds mappings
/// of its own, so it stays valid when the regions it came from leave the table (the guest's
/// memory stays mapped for it); it is unmapped when this object is released.
public final class GuestPages: @unchecked Sendable {
    /// The view: every entry's bytes, one after another.
    public let bytes: UnsafeMutableRawBufferPointer
    /// Each piece of the view, in view order: an entry, or the part of one inside one region.
    public let pieces: [Piece]

    /// One guest range mapped into the view.
    public struct Piece: Sendable, Equatable {
        /// The guest address of the piece's first byte.
        public let guestAddress: UInt64
        /// Bytes in the piece.
        public let length: UInt64
        /// Where in the view the piece starts.
        public let viewOffset: Int
    }

    /// Where the view's pieces are counted until it is unmapped.
    private let budget: MappingBudget

    fileprivate init(mapping pieces: [(region: MappedRegion, address: UInt64, length: UInt64)], size: Int, budget: MappingBudget) throws(GuestMemoryError) {
        let reserved = mmap(nil, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let reserved, reserved != MAP_FAILED else { throw .systemCall(call: "mmap(reserve)", errno: errno) }
        var offset = 0
        var placed: [Piece] = []
        for piece in pieces {
            let region = piece.region.region
            let fileOffset = region.fileOffset + (piece.address - region.guestAddress)
            let mapped = mmap(reserved + offset, Int(piece.length), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                              region.memfd.rawValue, off_t(fileOffset))
            guard mapped == reserved + offset else {
                let code = errno
                munmap(reserved, size)
                throw .systemCall(call: "mmap(MAP_FIXED)", errno: code)
            }
            placed.append(Piece(guestAddress: piece.address, length: piece.length, viewOffset: offset))
            offset += Int(piece.length)
        }
        bytes = UnsafeMutableRawBufferPointer(start: reserved, count: size)
        self.pieces = placed
        self.budget = budget
    }

    deinit {
        munmap(bytes.baseAddress, bytes.count)
        budget.give(pieces.count)
    }

    /// Bytes in the view.
    public var size: Int { bytes.count }
}

extension GuestPages {
    /// The view as buffer memory (`SharedMemory.Kind.guestPages`), for
    /// `Connection.adoptBuffer(_:memoryType:)` on a device in this process: the GPU then maps
    /// and uses the guest's pages in place. The memory holds this view, so the view stays
    /// mapped while any buffer, GPU mapping or work uses it; it has no descriptor, so it cannot
    /// be exported or sent to another process. (The view is whole pages at a page-aligned
    /// address, which is all adopting checks.)
    public func sharedMemory() throws(GuestMemoryError) -> SharedMemory {
        guard let base = bytes.baseAddress else { throw .zeroLength(guestAddress: pieces.first?.guestAddress ?? 0) }
        do { return try SharedMemory.adopting(mapping: base, size: size, heldBy: self) }
        catch { throw .systemCall(call: error.call, errno: error.code) }
    }
}
