import Dispatch
import MagmaGuestMemory
import MagmaTestSupport
import Testing

/// Tables used from several threads at once, and two guests' tables side by side in one
/// process: no races (run under the thread sanitizer), no shared state between instances.
@Suite(.hangGuard) struct ConcurrentGuestMemoryTests {
    @Test func viewsAndTranslationsWhileRegionsComeAndGo() throws {
        let page = GuestRAM.page
        let guests = try (0..<2).map { _ in try GuestRAM(pages: 16) }
        let tables = try guests.map { try GuestMemory(regions: [try $0.region(guestPage: 0, pages: 8)]) }
        let spare = try guests.map { try $0.region(guestPage: 8, pages: 8, firstPage: 8) }
        for (index, guest) in guests.enumerated() { for memfdPage in 0..<16 { guest.stamp(page: memfdPage, seed: UInt8(index + 1)) } }
        let random = SeededRandom(for: "ConcurrentGuestMemoryTests.viewsAndTranslationsWhileRegionsComeAndGo")

        // Threads 0-1 add and remove each guest's second region; the others map and translate.
        DispatchQueue.concurrentPerform(iterations: 6) { thread in
            var random = random.stream(thread)
            let guest = thread % 2
            let table = tables[guest]
            for _ in 0..<300 {
                if thread < 2 {
                    try? table.add(region: spare[guest])
                    _ = try? table.remove(guestAddress: UInt64(8 * page))
                    continue
                }
                let guestPage = Int.random(in: 0..<16, using: &random)
                if let view = try? table.pages(for: [entry(guestPage: guestPage)]) {
                    // Whatever the table held at that moment, the view is this guest's page.
                    #expect(view.bytes[5] == GuestRAM.pattern(page: guestPage, byte: 5, seed: UInt8(guest + 1)))
                } else {
                    #expect(guestPage >= 8, "guest pages 0-7 never leave the table")
                }
                if let range = try? table.translate(address: UInt64(guestPage * page + 8), length: 8) {
                    #expect(range.bytes[0] == GuestRAM.pattern(page: guestPage, byte: 8, seed: UInt8(guest + 1)))
                }
            }
        }
        #expect(tables.allSatisfy { $0.mappedPieces == 0 })
        #expect(tables.allSatisfy { $0.regions.first?.guestAddress == 0 })
    }
}
