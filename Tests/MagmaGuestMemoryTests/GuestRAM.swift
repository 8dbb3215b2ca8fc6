import MagmaGuestMemory
import MagmaPlatform
import Testing

/// A stand-in for a guest's RAM as QEMU shares it: a size-sealed memfd, and the guest's own
/// mapping of it (`guest`), through which a test plays the guest.
struct GuestRAM: Sendable {
    let memory: SharedMemory
    /// The RAM's memfd.
    let memfd: OwnedFileDescriptor
    static let page = SharedMemory.pageSize

    init(pages: Int) throws {
        memory = try SharedMemory.create(size: pages * Self.page, name: "test-guest-ram")
        memfd = try #require(memory.descriptor)
    }

    /// The guest's own view of its RAM.
    var guest: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: memory.base, count: memory.size) }

    /// A region of the table: `pages` pages of this RAM from page `firstPage`, at guest page `guestPage`.
    func region(guestPage: Int, pages: Int, firstPage: Int = 0) throws -> GuestMemoryRegion {
        GuestMemoryRegion(guestAddress: UInt64(guestPage * Self.page), size: UInt64(pages * Self.page),
                          memfd: try memfd.duplicate(), fileOffset: UInt64(firstPage * Self.page))
    }

    /// Fills page `page` (of the memfd) with a pattern only it has.
    func stamp(page: Int, seed: UInt8 = 0) {
        for index in 0..<Self.page { guest[page * Self.page + index] = Self.pattern(page: page, byte: index, seed: seed) }
    }

    static func pattern(page: Int, byte: Int, seed: UInt8 = 0) -> UInt8 { UInt8(truncatingIfNeeded: page &* 31 &+ byte &* 7) ^ seed }
}

/// A backing entry of `pages` pages at guest page `guestPage`.
func entry(guestPage: Int, pages: Int = 1) -> GuestMemoryEntry {
    GuestMemoryEntry(address: UInt64(guestPage * GuestRAM.page), length: UInt32(pages * GuestRAM.page))
}
