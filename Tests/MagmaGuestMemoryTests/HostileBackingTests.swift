import MagmaGuestMemory
import MagmaPlatform
import MagmaTestSupport
import Testing

/// Backings a hostile guest could send: every one is a typed error, nothing traps, nothing is
/// mapped, and the table keeps serving.
@Suite struct HostileBackingTests {
    let page = UInt64(GuestRAM.page)

    @Test func badEntriesAreTypedErrors() throws {
        let ram = try GuestRAM(pages: 16)
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0x10, pages: 16)])
        let base = 0x10 * page
        let one = UInt32(page)
        let cases: [([GuestMemoryEntry], GuestMemoryError)] = [
            ([], .entryCount(count: 0, limit: 16_384)),
            ([GuestMemoryEntry(address: base, length: 0)], .zeroLength(guestAddress: base)),
            ([GuestMemoryEntry(address: base + 1, length: one)], .unalignedEntry(index: 0, guestAddress: base + 1, length: page)),
            ([GuestMemoryEntry(address: base, length: one), GuestMemoryEntry(address: base + page, length: one - 512)],
             .unalignedEntry(index: 1, guestAddress: base + page, length: page - 512)),
            ([GuestMemoryEntry(address: 0, length: one)], .outsideMemory(guestAddress: 0, length: page)),
            ([GuestMemoryEntry(address: base + 15 * page, length: 2 * one)], .outsideMemory(guestAddress: base + 15 * page, length: 2 * page)),
            ([GuestMemoryEntry(address: base + 0x1_0000_0000, length: one)], .outsideMemory(guestAddress: base + 0x1_0000_0000, length: page)),
            ([GuestMemoryEntry(address: UInt64.max - page + 1, length: 2 * one)], .rangeOverflow(guestAddress: UInt64.max - page + 1, length: 2 * page)),
            ([GuestMemoryEntry(address: base, length: 4 * one), GuestMemoryEntry(address: base + 3 * page, length: one)],
             .overlappingEntries(first: 0, second: 1)),
            ([GuestMemoryEntry(address: base + 8 * page, length: one), GuestMemoryEntry(address: base, length: one), GuestMemoryEntry(address: base + 8 * page, length: one)],
             .overlappingEntries(first: 0, second: 2)),
        ]
        for (entries, expected) in cases {
            #expect(throws: expected) { _ = try memory.pages(for: entries) }
        }
        // Still serving.
        #expect(try memory.pages(for: [GuestMemoryEntry(address: base, length: one)]).size == GuestRAM.page)
    }

    @Test func hugeBackingsAreRefusedByTheLimits() throws {
        let ram = try GuestRAM(pages: 16)
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0x10, pages: 16)])
        let many = (0..<16_385).map { _ in GuestMemoryEntry(address: 0x10 * page, length: UInt32(page)) }
        #expect(throws: GuestMemoryError.entryCount(count: 16_385, limit: 16_384)) { _ = try memory.pages(for: many) }
        // Entries of nearly 4 GiB each pass the byte limit long before they could be mapped.
        let large = (0..<1_000).map { UInt64($0) << 32 }.map { GuestMemoryEntry(address: $0, length: UInt32.max - UInt32(page) + 1) }
        #expect(throws: GuestMemoryError.backingTooLarge(bytes: UInt64(UInt32.max) - page + 1, limit: 1 << 30)) { _ = try memory.pages(for: large) }
        let limits = GuestPagesLimits(maxEntries: 4, maxBytes: 2 * page)
        #expect(throws: GuestMemoryError.backingTooLarge(bytes: 3 * page, limit: 2 * page)) {
            _ = try memory.pages(for: [entry(guestPage: 0x10), entry(guestPage: 0x11), entry(guestPage: 0x12)], limits: limits)
        }
        #expect(try memory.pages(for: [entry(guestPage: 0x10), entry(guestPage: 0x12)], limits: limits).size == 2 * GuestRAM.page)
    }

    @Test func randomBackingsNeverTrap() throws {
        var random = SeededRandom(for: "HostileBackingTests.randomBackingsNeverTrap")
        let ram = try GuestRAM(pages: 16)
        let memory = try GuestMemory(regions: [try ram.region(guestPage: 0x10, pages: 8), try ram.region(guestPage: 0x40, pages: 8, firstPage: 8)])
        let interesting: [UInt64] = [0, 1, page - 1, page, 0x10 * page, 0x18 * page - 1, 0x40 * page, 0x47 * page, UInt64.max, UInt64.max - page + 1]
        var accepted = 0
        for _ in 0..<2_000 {
            let count = Int.random(in: 0...6, using: &random)
            let entries = (0..<count).map { _ in
                let address = Bool.random(using: &random) ? interesting.randomElement(using: &random)! : (UInt64.random(in: 0..<0x50, using: &random) * page)
                let length: UInt32 = Bool.random(using: &random) ? UInt32(page) * UInt32.random(in: 0...3, using: &random) : UInt32.random(in: 0...UInt32.max, using: &random)
                return GuestMemoryEntry(address: address, length: length)
            }
            do {
                let view = try memory.pages(for: entries)
                #expect(view.size == entries.reduce(0) { $0 + Int($1.length) }, "\(random)")
                accepted += 1
            } catch {
                // A typed refusal: the only other outcome.
            }
        }
        #expect(try memory.translate(address: 0x10 * page, length: 1).bytes.count == 1)
        print("random backings: \(accepted) of 2000 accepted")
    }
}
