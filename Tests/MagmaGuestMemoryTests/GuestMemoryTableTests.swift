import Glibc
import MagmaGuestMemory
import MagmaPlatform
import Testing

/// The memory table: which regions it takes, and translation of guest ranges inside one region.
@Suite struct GuestMemoryTableTests {
    let page = UInt64(GuestRAM.page)

    @Test func regionsAreRefusedWithTheTableUnchanged() throws {
        let ram = try GuestRAM(pages: 16)
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0x100, pages: 8)])
        let before = memory.regions.map(\.guestAddress)

        func refused(_ region: GuestMemoryRegion, _ expected: GuestMemoryError) {
            #expect(throws: expected) { try memory.add(region: region) }
            #expect(memory.regions.map(\.guestAddress) == before)
        }
        let fd = ram.memfd
        refused(try ram.region(guestPage: 0x104, pages: 8, firstPage: 8),
                .overlappingRegions(guestAddress: 0x104 * page, size: 8 * page, existingAddress: 0x100 * page, existingSize: 8 * page))
        refused(try ram.region(guestPage: 0xFC, pages: 5, firstPage: 8),
                .overlappingRegions(guestAddress: 0xFC * page, size: 5 * page, existingAddress: 0x100 * page, existingSize: 8 * page))
        refused(GuestMemoryRegion(guestAddress: 0, size: 0, memfd: try fd.duplicate()), .emptyRegion(guestAddress: 0))
        refused(GuestMemoryRegion(guestAddress: 0, size: 100, memfd: try fd.duplicate()), .unalignedRegion(guestAddress: 0, size: 100, fileOffset: 0))
        refused(GuestMemoryRegion(guestAddress: 0, size: page, memfd: try fd.duplicate(), fileOffset: 12),
                .unalignedRegion(guestAddress: 0, size: page, fileOffset: 12))
        let top = UInt64.max - page + 1
        refused(GuestMemoryRegion(guestAddress: top, size: 2 * page, memfd: try fd.duplicate()),
                .regionOverflow(guestAddress: top, size: 2 * page, fileOffset: 0))
        refused(GuestMemoryRegion(guestAddress: 0, size: page, memfd: try fd.duplicate(), fileOffset: top),
                .regionOverflow(guestAddress: 0, size: page, fileOffset: top))
        refused(try ram.region(guestPage: 0, pages: 4, firstPage: 14), .descriptorTooSmall(guestAddress: 0, needed: 18 * page, fileSize: 16 * page))
        refused(try ram.region(guestPage: 0, pages: 17), .descriptorTooSmall(guestAddress: 0, needed: 17 * page, fileSize: 16 * page))

        // Adjacent, not overlapping: accepted, kept in address order.
        try memory.add(region: try ram.region(guestPage: 0xF8, pages: 8, firstPage: 8))
        #expect(memory.regions.map(\.guestAddress) == [0xF8 * page, 0x100 * page])
    }

    @Test func descriptorsThatAreNotMemoryAreRefused() throws {
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        let (read, write) = (OwnedFileDescriptor(taking: ends[0]), OwnedFileDescriptor(taking: ends[1]))
        let memory = GuestMemory()
        #expect(throws: GuestMemoryError.descriptorTooSmall(guestAddress: 0, needed: page, fileSize: 0)) {
            try memory.add(region: GuestMemoryRegion(guestAddress: 0, size: page, memfd: read))
        }
        // Guest RAM opened write-only has the size but cannot be mapped shared for reading:
        // mmap's errno, typed.
        let ram = try GuestRAM(pages: 1)
        let writeOnly = open("/proc/self/fd/\(ram.memfd.rawValue)", O_WRONLY)
        try #require(writeOnly >= 0)
        #expect(throws: GuestMemoryError.systemCall(call: "mmap", errno: EACCES)) {
            try memory.add(region: GuestMemoryRegion(guestAddress: 0, size: page, memfd: OwnedFileDescriptor(taking: writeOnly)))
        }
        #expect(memory.regions.isEmpty)
        withExtendedLifetime(write) {}
    }

    @Test func aWholeTableIsTakenOrRefusedWhole() throws {
        let ram = try GuestRAM(pages: 8)
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0, pages: 8)])
        #expect(throws: GuestMemoryError.overlappingRegions(guestAddress: 0x13 * page, size: 2 * page, existingAddress: 0x10 * page, existingSize: 4 * page)) {
            try memory.replaceRegions(with: [try ram.region(guestPage: 0x10, pages: 4), try ram.region(guestPage: 0x13, pages: 2, firstPage: 4)])
        }
        #expect(throws: GuestMemoryError.emptyRegion(guestAddress: 0)) {
            _ = try GuestMemory(regions: [try ram.region(guestPage: 0x10, pages: 4), GuestMemoryRegion(guestAddress: 0, size: 0, memfd: try ram.memfd.duplicate())])
        }
        #expect(memory.regions.map(\.guestAddress) == [0])
        try memory.replaceRegions(with: [try ram.region(guestPage: 0x20, pages: 4, firstPage: 4), try ram.region(guestPage: 0x10, pages: 4)])
        #expect(memory.regions.map(\.guestAddress) == [0x10 * page, 0x20 * page])
        #expect(throws: GuestMemoryError.noRegion(guestAddress: 0)) { try memory.remove(guestAddress: 0) }
        #expect(try memory.remove(guestAddress: 0x20 * page).size == 4 * page)
        #expect(memory.regions.map(\.guestAddress) == [0x10 * page])
    }

    @Test func theTableHoldsAtMostItsRegionLimit() throws {
        let ram = try GuestRAM(pages: 8)
        let memory = GuestMemory(regionLimit: 2)
        try memory.add(region: try ram.region(guestPage: 0x10, pages: 1))
        try memory.add(region: try ram.region(guestPage: 0x20, pages: 1, firstPage: 1))
        #expect(throws: GuestMemoryError.regionLimit(limit: 2)) { try memory.add(region: try ram.region(guestPage: 0x30, pages: 1, firstPage: 2)) }
        #expect(throws: GuestMemoryError.regionLimit(limit: 2)) {
            try memory.replaceRegions(with: (0..<3).map { try ram.region(guestPage: 0x40 + $0, pages: 1, firstPage: $0) })
        }
        #expect(memory.regions.map(\.guestAddress) == [0x10 * page, 0x20 * page])
        // A removed region makes room.
        try memory.remove(guestAddress: 0x10 * page)
        try memory.add(region: try ram.region(guestPage: 0x30, pages: 1, firstPage: 2))
        #expect(memory.regions.map(\.guestAddress) == [0x20 * page, 0x30 * page])
    }

    @Test func translationIsTheGuestsOwnBytes() throws {
        let ram = try GuestRAM(pages: 8)
        // Guest pages 0x40... are memfd pages 2... (a region that starts inside its descriptor).
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0x40, pages: 4, firstPage: 2)])
        let range = try memory.translate(address: 0x41 * page + 24, length: 16)
        #expect(range.guestAddress == 0x41 * page + 24 && range.bytes.count == 16)
        try range.store(UInt64(0x1122_3344_5566_7788), at: 3)
        #expect(ram.guest.loadUnaligned(fromByteOffset: 3 * GuestRAM.page + 27, as: UInt64.self) == 0x1122_3344_5566_7788)
        ram.guest.storeBytes(of: UInt32(0xCAFE_F00D), toByteOffset: 3 * GuestRAM.page + 24, as: UInt32.self)
        #expect(try range.load(UInt32.self) == 0xCAFE_F00D)
        #expect(throws: GuestMemoryError.self) { _ = try range.load(UInt64.self, at: 9) }
        #expect(throws: GuestMemoryError.self) { try range.store(UInt8(1), at: 16) }
        #expect(throws: GuestMemoryError.self) { try range.store(UInt8(1), at: -1) }
        #expect(try memory.translate(address: 0x40 * page, length: 4 * page).bytes.count == 4 * GuestRAM.page)
    }

    @Test func translationRefusesRangesOutsideOneRegion() throws {
        let ram = try GuestRAM(pages: 8)
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0x10, pages: 4), try ram.region(guestPage: 0x14, pages: 4, firstPage: 4)])
        let cases: [(UInt64, UInt64, GuestMemoryError)] = [
            (0x10 * page, 0, .zeroLength(guestAddress: 0x10 * page)),
            (0x0F * page, page, .outsideMemory(guestAddress: 0x0F * page, length: page)),
            (0x10 * page - 1, 2, .outsideMemory(guestAddress: 0x10 * page - 1, length: 2)),
            (0x18 * page - 1, 2, .outsideMemory(guestAddress: 0x18 * page - 1, length: 2)),
            (0x14 * page - 8, 16, .outsideMemory(guestAddress: 0x14 * page - 8, length: 16)), // across two regions
            (0x11 * page, UInt64.max, .rangeOverflow(guestAddress: 0x11 * page, length: UInt64.max)),
            (UInt64.max, 1, .rangeOverflow(guestAddress: UInt64.max, length: 1)), // its end, 2^64, is past the address space
            (UInt64.max, 2, .rangeOverflow(guestAddress: UInt64.max, length: 2)),
        ]
        for (address, length, expected) in cases {
            #expect(throws: expected) { _ = try memory.translate(address: address, length: length) }
        }
    }

    @Test func aTranslatedRangeOutlivesItsRegionsRemoval() throws {
        let ram = try GuestRAM(pages: 4)
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0, pages: 4)])
        let range = try memory.translate(address: page, length: 8)
        try memory.remove(guestAddress: 0)
        #expect(throws: GuestMemoryError.outsideMemory(guestAddress: page, length: 8)) { _ = try memory.translate(address: page, length: 8) }
        try range.store(UInt64(42))
        #expect(ram.guest.load(fromByteOffset: GuestRAM.page, as: UInt64.self) == 42)
    }

    @Test func errorsSayWhatWasWrong() {
        #expect(GuestMemoryError.outsideMemory(guestAddress: 0x1000, length: 8).description == "guest range at 0x1000 of 8 bytes is not inside one region of guest memory")
        #expect("\(GuestMemoryError.overlappingEntries(first: 1, second: 3))" == "backing entries 1 and 3 cover the same guest pages")
    }
}
