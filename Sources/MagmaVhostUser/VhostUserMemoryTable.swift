import MagmaGuestMemory
import MagmaPlatform

/// A front-end's memory table: the guest's RAM regions (memfds, mapped shared by `GuestMemory`)
/// and, for each, the front-end's own virtual address of it, which SET_VRING_ADDR speaks in.
/// Descriptors in the rings speak guest physical addresses, checked by `GuestMemory`.
public final class VhostUserMemoryTable: Sendable {
    /// The guest's physical memory (shared with the device, which maps resources' pages from it).
    public let memory: GuestMemory
    private let regions = Locked<[VhostUserMemoryRegion]>([])

    /// A table over `memory`, empty until `replace` fills it.
    public init(memory: GuestMemory = GuestMemory()) { self.memory = memory }

    /// SET_MEM_TABLE: the regions and their memfds replace the table, all or nothing.
    public func replace(_ table: [VhostUserMemoryRegion], descriptors: [OwnedFileDescriptor]) throws(VhostUserError) {
        guard table.count == descriptors.count else { throw .invalid("\(table.count) regions with \(descriptors.count) descriptors") }
        for (index, region) in table.enumerated() {
            let (_, overflow) = region.userAddress.addingReportingOverflow(region.size)
            guard !overflow else { throw .invalid("memory region \(index): user address 0x\(String(region.userAddress, radix: 16)) + size overflows") }
            if let other = table[..<index].firstIndex(where: { $0.userAddress < region.userAddress &+ region.size && region.userAddress < $0.userAddress &+ $0.size }) {
                throw .invalid("memory regions \(other) and \(index) overlap in the front-end's address space")
            }
        }
        let guestRegions = zip(table, descriptors).map {
            GuestMemoryRegion(guestAddress: $0.guestAddress, size: $0.size, memfd: $1, fileOffset: $0.mmapOffset)
        }
        do { try memory.replaceRegions(with: guestRegions) } catch { throw .memory(error) }
        regions.withLock { $0 = table }
    }

    /// The regions now in the table.
    public var table: [VhostUserMemoryRegion] { regions.withLock { $0 } }

    /// The host bytes of `length` bytes at the front-end's virtual address `userAddress` (a
    /// ring's part), which must lie in one region.
    public func translate(userAddress: UInt64, length: UInt64) throws(VhostUserError) -> GuestRange {
        let found = regions.withLock { table in
            table.first { userAddress >= $0.userAddress && userAddress - $0.userAddress < $0.size }
        }
        guard let found else { throw .memory(.outsideMemory(guestAddress: userAddress, length: length)) }
        return try translate(guestAddress: found.guestAddress + (userAddress - found.userAddress), length: length)
    }

    /// The host bytes of `length` bytes at guest physical address `guestAddress` (a descriptor's
    /// buffer), which must lie in one region.
    public func translate(guestAddress: UInt64, length: UInt64) throws(VhostUserError) -> GuestRange {
        do { return try memory.translate(address: guestAddress, length: length) } catch { throw .memory(error) }
    }
}
