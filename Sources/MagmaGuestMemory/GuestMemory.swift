import MagmaPlatform

/// One guest's physical memory as the host sees it: the regions of its memory table, each
/// mapped shared into this process once, and every guest address checked against them.
///
/// Each instance is one guest's (one vhost-user front-end's): there is no process-wide state,
/// so two device models in one process never see each other's memory. Calls may come from any
/// thread. A refused call changes nothing.
public final class GuestMemory: Sendable {
    private let table = Locked<[MappedRegion]>([])
    /// The pieces of this guest's live `GuestPages` views (each a kernel mapping).
    let mappings: MappingBudget

    /// The default `mappingLimit`: a quarter of Linux's default `vm.max_map_count` (65530),
    /// the mappings one process may hold for all the guests it serves.
    public static let defaultMappingLimit = 16_384

    /// The most regions the table holds at once (each is a descriptor and a mapping of the host's).
    public let regionLimit: Int

    /// The default `regionLimit`: far above a VMM's memory table (vhost-user offers 8 to 32
    /// slots), enough for the socket emulation's guest, whose every resource is a region.
    public static let defaultRegionLimit = 4096

    /// An empty table whose live views may hold `mappingLimit` pieces (kernel mappings) at once,
    /// of at most `regionLimit` regions.
    public init(mappingLimit: Int = GuestMemory.defaultMappingLimit, regionLimit: Int = GuestMemory.defaultRegionLimit) {
        mappings = MappingBudget(limit: mappingLimit)
        self.regionLimit = max(0, regionLimit)
    }

    /// A table of `regions`, all of them or none: a region refused (overlapping another,
    /// empty, unaligned, overflowing, or larger than its descriptor) throws, and so do more
    /// regions than `regionLimit`.
    public convenience init(regions: [GuestMemoryRegion], mappingLimit: Int = GuestMemory.defaultMappingLimit,
                            regionLimit: Int = GuestMemory.defaultRegionLimit) throws(GuestMemoryError) {
        self.init(mappingLimit: mappingLimit, regionLimit: regionLimit)
        try replaceRegions(with: regions)
    }

    /// The pieces this guest's live views hold now (each a kernel mapping).
    public var mappedPieces: Int { mappings.used.load(ordering: .relaxed) }

    /// The regions in the table, in guest address order.
    public var regions: [GuestMemoryRegion] { table.withLock { $0.map(\.region) } }

    /// Adds `region` (vhost-user ADD_MEM_REG) and maps it. Refused, with the table unchanged,
    /// if it overlaps a region of the table, the table already holds `regionLimit` regions
    /// (`.regionLimit`), or it fails `init(regions:)`'s checks.
    public func add(region: GuestMemoryRegion) throws(GuestMemoryError) {
        try region.validate()
        try table.withLock { mapped throws(GuestMemoryError) in try check(adding: region, to: mapped) }
        let new = try MappedRegion(validated: region)
        try table.withLock { mapped throws(GuestMemoryError) in
            // Checked again: another thread may have added a region meanwhile.
            try check(adding: region, to: mapped)
            mapped.append(new)
            mapped.sort { $0.region.guestAddress < $1.region.guestAddress }
        }
    }

    /// Removes the region that starts at `guestAddress` (vhost-user REM_MEM_REG) and returns
    /// it. Ranges translated from it and `GuestPages` views of its pages stay valid: they hold
    /// mappings of their own, so the guest's pages stay mapped for them until they are released.
    @discardableResult
    public func remove(guestAddress: UInt64) throws(GuestMemoryError) -> GuestMemoryRegion {
        try table.withLock { mapped throws(GuestMemoryError) in
            guard let index = mapped.firstIndex(where: { $0.region.guestAddress == guestAddress }) else {
                throw .noRegion(guestAddress: guestAddress)
            }
            return mapped.remove(at: index).region
        }
    }

    /// Replaces the whole table with `regions` (vhost-user SET_MEM_TABLE), all or nothing.
    public func replaceRegions(with regions: [GuestMemoryRegion]) throws(GuestMemoryError) {
        guard regions.count <= regionLimit else { throw .regionLimit(limit: regionLimit) }
        for (index, region) in regions.enumerated() {
            try region.validate()
            if let earlier = regions[..<index].first(where: { $0.overlaps(region) }) { throw Self.overlap(region, earlier) }
        }
        var mapped: [MappedRegion] = []
        for region in regions { mapped.append(try MappedRegion(validated: region)) }
        mapped.sort { $0.region.guestAddress < $1.region.guestAddress }
        table.withLock { $0 = mapped }
    }

    /// The host bytes of the guest range `guestAddress ..< guestAddress + length`, which must
    /// lie inside one region (what one virtqueue descriptor or ring names). A zero length, an
    /// overflowing range or one outside every region (or across two) throws.
    public func translate(address guestAddress: UInt64, length: UInt64) throws(GuestMemoryError) -> GuestRange {
        guard length > 0 else { throw .zeroLength(guestAddress: guestAddress) }
        let (_, overflow) = guestAddress.addingReportingOverflow(length)
        guard !overflow else { throw .rangeOverflow(guestAddress: guestAddress, length: length) }
        let found = table.withLock { mapped in mapped.first { $0.region.contains(guestAddress, length: length) } }
        guard let found else { throw .outsideMemory(guestAddress: guestAddress, length: length) }
        return GuestRange(region: found, offset: Int(guestAddress - found.region.guestAddress), length: Int(length))
    }

    /// The mapped regions that hold the guest range `guestAddress ..< end`, in order, each with
    /// the part of the range inside it; nil if some byte of the range is in no region.
    func regions(covering guestAddress: UInt64, end: UInt64) -> [(region: MappedRegion, address: UInt64, length: UInt64)]? {
        table.withLock { mapped in
            var pieces: [(region: MappedRegion, address: UInt64, length: UInt64)] = []
            var address = guestAddress
            while address < end {
                guard let next = mapped.first(where: { $0.region.contains(address, length: 1) }) else { return nil }
                let length = min(end, next.region.end) - address
                pieces.append((next, address, length))
                address += length
            }
            return pieces
        }
    }

    /// Throws if `region` overlaps one of `mapped` or there is no room for another region.
    private func check(adding region: GuestMemoryRegion, to mapped: [MappedRegion]) throws(GuestMemoryError) {
        if let existing = mapped.first(where: { $0.region.overlaps(region) }) { throw Self.overlap(region, existing.region) }
        guard mapped.count < regionLimit else { throw .regionLimit(limit: regionLimit) }
    }

    private static func overlap(_ region: GuestMemoryRegion, _ existing: GuestMemoryRegion) -> GuestMemoryError {
        .overlappingRegions(guestAddress: region.guestAddress, size: region.size, existingAddress: existing.guestAddress, existingSize: existing.size)
    }
}
