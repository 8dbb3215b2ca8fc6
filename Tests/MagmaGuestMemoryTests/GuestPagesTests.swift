@testable import MagmaGuestMemory
import MagmaPlatform
import MagmaTestSupport
import Testing

/// A resource's guest pages as one host view: the guest's own pages, in the backing's order,
/// with no copy.
@Suite struct GuestPagesTests {
    let page = GuestRAM.page

    @Test func scatteredOutOfOrderPagesAreOneViewOfTheGuestsOwnPages() throws {
        let ram = try GuestRAM(pages: 32)
        // Guest pages 0x100... are memfd pages 0....
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0x100, pages: 32)])
        for index in 0..<32 { ram.stamp(page: index) }
        let order = [(17, 1), (3, 2), (30, 1), (0, 1), (9, 3)] // (memfd page, pages): scattered, out of order
        let view = try memory.pages(for: order.map { entry(guestPage: 0x100 + $0.0, pages: $0.1) })
        #expect(view.size == 8 * page)
        #expect(view.pieces.map(\.viewOffset) == [0, 1, 3, 4, 5].map { $0 * page })

        // The guest's bytes, in the backing's order, with no copy made.
        var offset = 0
        for (first, count) in order {
            for memfdPage in first..<(first + count) {
                #expect(Array(view.bytes[offset..<(offset + page)]) == Array(ram.guest[(memfdPage * page)..<((memfdPage + 1) * page)]))
                offset += page
            }
        }
        // Host writes through the view are the guest's pages changing...
        view.bytes.storeBytes(of: UInt64(0xFEED_FACE_0000_0001), toByteOffset: 1 * page + 8, as: UInt64.self) // memfd page 3
        view.bytes.storeBytes(of: UInt64(0xFEED_FACE_0000_0002), toByteOffset: 7 * page - 8, as: UInt64.self) // end of memfd page 10
        #expect(ram.guest.load(fromByteOffset: 3 * page + 8, as: UInt64.self) == 0xFEED_FACE_0000_0001)
        #expect(ram.guest.load(fromByteOffset: 11 * page - 8, as: UInt64.self) == 0xFEED_FACE_0000_0002)
        // ...and the guest's writes show in the view.
        ram.guest.storeBytes(of: UInt32(0xABCD_0123), toByteOffset: 30 * page, as: UInt32.self)
        #expect(view.bytes.load(fromByteOffset: 3 * page, as: UInt32.self) == 0xABCD_0123)
    }

    @Test func anEntryAcrossTwoAdjacentRegionsIsMappedFromEach() throws {
        // Two memfds (two RAM slabs) adjacent in guest space: guest pages 0x10-0x13 are slab A's
        // pages 4-7, guest pages 0x14-0x17 slab B's pages 0-3.
        let slabA = try GuestRAM(pages: 8), slabB = try GuestRAM(pages: 4)
        let memory = try GuestMemory(regions: [try slabA.region(guestPage: 0x10, pages: 4, firstPage: 4), try slabB.region(guestPage: 0x14, pages: 4)])
        for index in 0..<8 { slabA.stamp(page: index, seed: 0xA0) }
        for index in 0..<4 { slabB.stamp(page: index, seed: 0xB0) }
        let view = try memory.pages(for: [entry(guestPage: 0x12, pages: 4)])
        #expect(view.pieces.map(\.guestAddress) == [0x12, 0x14].map { UInt64($0 * page) })
        #expect(view.pieces.map(\.length) == [2, 2].map { UInt64($0 * page) })
        let expected = [(slabA, 6), (slabA, 7), (slabB, 0), (slabB, 1)]
        for (index, (slab, slabPage)) in expected.enumerated() {
            #expect(Array(view.bytes[(index * page)..<((index + 1) * page)]) == Array(slab.guest[(slabPage * page)..<((slabPage + 1) * page)]))
        }
        view.bytes[2 * page] = 0x5A
        #expect(slabB.guest[0] == 0x5A)
        // A gap between regions is not guest memory.
        let gapped = try GuestMemory(regions: [try slabA.region(guestPage: 0x10, pages: 4), try slabB.region(guestPage: 0x15, pages: 3)])
        #expect(throws: GuestMemoryError.outsideMemory(guestAddress: UInt64(0x13 * page), length: UInt64(2 * page))) {
            _ = try gapped.pages(for: [entry(guestPage: 0x13, pages: 2)])
        }
    }

    @Test func aViewStaysValidWhenItsRegionLeavesTheTable() throws {
        let ram = try GuestRAM(pages: 8)
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0, pages: 8)])
        let view = try memory.pages(for: [entry(guestPage: 5), entry(guestPage: 2)])
        try memory.remove(guestAddress: 0)
        #expect(memory.regions.isEmpty)
        #expect(throws: GuestMemoryError.outsideMemory(guestAddress: UInt64(5 * page), length: UInt64(page))) {
            _ = try memory.pages(for: [entry(guestPage: 5)])
        }
        // The view holds its own mappings: still the guest's pages, both ways.
        view.bytes[page + 1] = 0x77
        #expect(ram.guest[2 * page + 1] == 0x77)
        ram.guest[5 * page + 3] = 0x66
        #expect(view.bytes[3] == 0x66)
    }

    @Test func entriesThatFollowEachOtherAreOneMapping() throws {
        let ram = try GuestRAM(pages: 8)
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0, pages: 8)])
        for index in 0..<8 { ram.stamp(page: index) }
        let view = try memory.pages(for: [entry(guestPage: 1), entry(guestPage: 2, pages: 2), entry(guestPage: 6), entry(guestPage: 0)])
        #expect(view.pieces == [GuestPages.Piece(guestAddress: UInt64(page), length: UInt64(3 * page), viewOffset: 0),
                                GuestPages.Piece(guestAddress: UInt64(6 * page), length: UInt64(page), viewOffset: 3 * page),
                                GuestPages.Piece(guestAddress: 0, length: UInt64(page), viewOffset: 4 * page)])
        #expect(memory.mappedPieces == 3)
        for (index, memfdPage) in [1, 2, 3, 6, 0].enumerated() {
            #expect(Array(view.bytes[(index * page)..<((index + 1) * page)]) == Array(ram.guest[(memfdPage * page)..<((memfdPage + 1) * page)]))
        }
    }

    @Test func liveViewsAreBoundedByTheGuestsMappingLimit() throws {
        let ram = try GuestRAM(pages: 16)
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0, pages: 16)], mappingLimit: 4)
        var first: GuestPages? = try memory.pages(for: [entry(guestPage: 0), entry(guestPage: 2), entry(guestPage: 4)])
        #expect(memory.mappedPieces == 3)
        #expect(throws: GuestMemoryError.mappingLimit(needed: 2, inUse: 3, limit: 4)) {
            _ = try memory.pages(for: [entry(guestPage: 8), entry(guestPage: 10)])
        }
        let second = try memory.pages(for: [entry(guestPage: 8, pages: 4)])
        #expect(memory.mappedPieces == 4)
        #expect(first != nil)
        first = nil // unmapped: its three mappings are given back
        #expect(memory.mappedPieces == 1)
        let third = try memory.pages(for: [entry(guestPage: 0), entry(guestPage: 2), entry(guestPage: 4)])
        #expect(memory.mappedPieces == 4)
        withExtendedLifetime((second, third)) {}
        // A failed view takes nothing.
        #expect(throws: GuestMemoryError.self) { _ = try memory.pages(for: [entry(guestPage: 99)]) }
        #expect(memory.mappedPieces == 4)
    }

    @Test func viewsOfRandomBackingsMatchTheGuestsPages() throws {
        var random = SeededRandom(for: "GuestPagesTests.viewsOfRandomBackingsMatchTheGuestsPages")
        let ram = try GuestRAM(pages: 64)
        for index in 0..<64 { ram.stamp(page: index) }
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0x1000, pages: 32), try ram.region(guestPage: 0x2000, pages: 32, firstPage: 32)])
        for _ in 0..<50 {
            // Distinct pages of the 64, in a random order.
            let chosen = Array(Array(0..<64).shuffled(using: &random).prefix(Int.random(in: 1...20, using: &random)))
            let view = try memory.pages(for: chosen.map { entry(guestPage: $0 < 32 ? 0x1000 + $0 : 0x2000 + $0 - 32) })
            for (index, memfdPage) in chosen.enumerated() {
                #expect(Array(view.bytes[(index * page)..<((index + 1) * page)]) == Array(ram.guest[(memfdPage * page)..<((memfdPage + 1) * page)]), "\(random)")
            }
        }
    }
}
