import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import Synchronization

/// How the GPU is touching memory.
public enum GpuAccess: UInt32, Sendable {
    case read = 1
    case write = 2
    case execute = 4

    var requiredFlag: MapFlags {
        switch self {
        case .read: .read
        case .write: .write
        case .execute: .execute
        }
    }
}

/// A GPU memory fault: the address and access that failed, and why.
public struct GpuFault: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: UInt32, Sendable {
        /// No page is present at the address.
        case notMapped = 1
        /// The page is present but forbids the access.
        case permission = 2
        /// The address is not aligned for the access.
        case misaligned = 3
    }
    public let address: UInt64
    public let access: GpuAccess
    public let reason: Reason

    public var description: String { "GPU \(access) fault at 0x\(String(address, radix: 16)): \(reason)" }
}

/// One connection's GPU address space: the MMU that every GPU access of that connection goes
/// through. Another connection's memory is unreachable because it is never in this space.
///
/// The space keeps its mappings, not a page table: a translation is computed from the mapping
/// that holds the address, so what the space costs grows with the number of mappings (each an
/// object the connection is charged for) and of depopulated ranges (at most
/// `maxAbsentRanges`), never with the size of what is mapped. A mapping's pages are present
/// from the start (populated eagerly, as far as the client can tell) except those a
/// depopulate removed; a growable mapping's pages are always present, filled on first touch.
final class AddressSpace: Sendable {
    /// Depopulated ranges one space may hold in all; a depopulate that would pass it is
    /// MEMORY_ERROR.
    static let maxAbsentRanges = 65_536

    private struct Region {
        let mapping: GpuMapping
        /// The memory of the mapping's buffer.
        let memory: SharedMemory
        /// Pages of the mapping, counted from its first, that a depopulate removed.
        var absent = PageRanges()

        var pageCount: UInt64 { mapping.length >> PageEntry.pageShift }

        func isPresent(_ page: UInt64) -> Bool { mapping.flags.contains(.growable) || !absent.contains(page) }

        /// How many pages from the present `page` on are present, up to the mapping's end.
        func presentPages(from page: UInt64) -> UInt64 {
            let end = mapping.flags.contains(.growable) ? pageCount : min(pageCount, absent.firstPage(atOrAfter: page) ?? pageCount)
            return end - page
        }
    }

    private struct State {
        /// Sorted by GPU address; they never overlap (the system checks before mapping).
        var regions: [Region] = []

        /// The index of the region holding `address`, if one does.
        func index(holding address: UInt64) -> Int? {
            var low = 0
            var high = regions.count
            while low < high {
                let middle = (low + high) / 2
                if regions[middle].mapping.endAddress > address { high = middle } else { low = middle + 1 }
            }
            guard low < regions.count, regions[low].mapping.gpuAddress <= address else { return nil }
            return low
        }

        var absentRanges: Int { regions.reduce(0) { $0 + $1.absent.ranges.count } }
    }

    private let state = Locked(State())
    /// Bumped whenever pages are removed; cached translations older than it are stale.
    let generation = Atomic<UInt64>(0)

    /// Adds a mapping of a SoftGPU buffer, all of its pages present.
    func map(_ mapping: GpuMapping) {
        let region = Region(mapping: mapping, memory: SoftGPUBuffer.of(mapping.buffer).memory)
        state.withLock { state in
            let index = state.regions.firstIndex { $0.mapping.gpuAddress > mapping.gpuAddress } ?? state.regions.endIndex
            state.regions.insert(region, at: index)
        }
    }

    /// Removes a mapping.
    func unmap(_ mapping: GpuMapping) {
        state.withLock { state in
            state.regions.removeAll { $0.mapping.gpuAddress == mapping.gpuAddress }
        }
        generation.add(1, ordering: .releasing)
    }

    /// Removes every mapping.
    func removeAll() {
        state.withLock { $0.regions = [] }
        generation.add(1, ordering: .releasing)
    }

    /// Populates or depopulates the pages of `mapping` whose buffer bytes lie in `range`
    /// (partly covered pages count whole).
    func update(_ op: BufferRangeOp, _ mapping: GpuMapping, bufferRange range: Range<UInt64>) throws(MagmaError) {
        try state.withLock { state throws(MagmaError) in
            guard let index = state.index(holding: mapping.gpuAddress), state.regions[index].mapping.gpuAddress == mapping.gpuAddress else {
                return
            }
            let pages = Self.pages(mapping, range)
            if op == .populateTables {
                state.regions[index].absent.remove(pages)
            } else {
                guard state.absentRanges < Self.maxAbsentRanges else {
                    throw .memoryError("the address space holds \(Self.maxAbsentRanges) depopulated ranges, the limit")
                }
                state.regions[index].absent.insert(pages)
            }
        }
        if op == .depopulateTables { generation.add(1, ordering: .releasing) }
    }

    /// Number of present pages (for tests and diagnostics).
    var presentPages: Int {
        state.withLock { state in
            Int(state.regions.reduce(UInt64(0)) { total, region in
                total + region.pageCount - (region.mapping.flags.contains(.growable) ? 0 : region.absent.count)
            })
        }
    }

    /// Translates the page holding `address` for `access`.
    func translate(_ address: UInt64, _ access: GpuAccess) throws(GpuFault) -> PageEntry {
        try translateExtent(address, 1, access).2
    }

    /// Translates up to `length` bytes from `address` for `access` at once, for as long as the
    /// pages follow each other in one mapping and are present: the host address of `address`,
    /// the number of bytes from it that are contiguous there (at least the rest of its page, at
    /// most `length`), and the first page's entry, which keeps that memory alive. Faults like
    /// `translate` on the first page; the mapping's end or a depopulated page only ends the
    /// extent (translating there faults when the caller gets to it).
    func translateExtent(_ address: UInt64, _ length: Int, _ access: GpuAccess) throws(GpuFault) -> (UnsafeMutableRawPointer, Int, PageEntry) {
        let found: (PageEntry, UInt64)? = state.withLock { state in
            guard let index = state.index(holding: address) else { return nil }
            let region = state.regions[index]
            let page = (address - region.mapping.gpuAddress) >> PageEntry.pageShift
            guard region.isPresent(page) else { return nil }
            let byteOffset = region.mapping.offset + (page << PageEntry.pageShift)
            let entry = PageEntry(memory: region.memory, byteOffset: Int(byteOffset), flags: region.mapping.flags)
            return (entry, region.presentPages(from: page))
        }
        guard let (entry, pages) = found else { throw GpuFault(address: address, access: access, reason: .notMapped) }
        guard entry.flags.contains(access.requiredFlag) else { throw GpuFault(address: address, access: access, reason: .permission) }
        let offset = Int(address & (PageEntry.pageSize - 1))
        let contiguous = pages >= UInt64(Int.max) >> PageEntry.pageShift ? Int.max : Int(pages << PageEntry.pageShift) - offset
        return (entry.hostAddress + offset, min(max(length, 1), contiguous), entry)
    }

    /// The pages of `mapping`, counted from its first, backed by buffer bytes in `range`.
    private static func pages(_ mapping: GpuMapping, _ range: Range<UInt64>) -> Range<UInt64> {
        let low = max(range.lowerBound, mapping.offset)
        let high = min(range.upperBound, mapping.offset + mapping.length)
        guard low < high else { return 0..<0 }
        let first = (low - mapping.offset) >> PageEntry.pageShift
        let last = (high - mapping.offset + PageEntry.pageSize - 1) >> PageEntry.pageShift
        return first..<last
    }
}
