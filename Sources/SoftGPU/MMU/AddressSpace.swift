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
/// through. Another connection's memory is unreachable because it is never in this table.
final class AddressSpace: Sendable {
    private struct State {
        var table = PageTable()
        /// Growable mappings fill their pages on first touch.
        var growable: [GpuMapping] = []
    }

    private let state = Locked(State())
    /// Bumped whenever entries are removed; cached translations older than it are stale.
    let generation = Atomic<UInt64>(0)

    /// Adds a mapping; growable mappings are populated lazily.
    func map(_ mapping: GpuMapping) {
        state.withLock { state in
            if mapping.flags.contains(.growable) {
                state.growable.append(mapping)
            } else {
                Self.populate(&state.table, mapping, bufferRange: mapping.offset..<(mapping.offset + mapping.length))
            }
        }
    }

    /// Removes a mapping's pages.
    func unmap(_ mapping: GpuMapping) {
        state.withLock { state in
            state.growable.removeAll { $0.gpuAddress == mapping.gpuAddress }
            Self.depopulate(&state.table, mapping, bufferRange: mapping.offset..<(mapping.offset + mapping.length))
        }
        generation.add(1, ordering: .releasing)
    }

    /// Populates or depopulates the pages of `mapping` whose buffer bytes lie in `range`.
    func update(_ op: BufferRangeOp, _ mapping: GpuMapping, bufferRange range: Range<UInt64>) {
        state.withLock { state in
            if op == .populateTables { Self.populate(&state.table, mapping, bufferRange: range) }
            else { Self.depopulate(&state.table, mapping, bufferRange: range) }
        }
        if op == .depopulateTables { generation.add(1, ordering: .releasing) }
    }

    /// Number of present pages (for tests and diagnostics).
    var presentPages: Int { state.withLock { $0.table.presentPages } }

    /// Translates the page holding `address` for `access`.
    func translate(_ address: UInt64, _ access: GpuAccess) throws(GpuFault) -> PageEntry {
        let entry = state.withLock { Self.lookup(&$0, page: address >> PageTable.pageShift, address: address) }
        return try Self.check(entry, address, access)
    }

    /// Translates up to `length` bytes from `address` for `access` at once, for as long as the
    /// pages follow each other in one buffer's memory and allow the access: the host address of
    /// `address`, the number of bytes from it that are contiguous there (at least the rest of its
    /// page, at most `length`), and the first page's entry, which keeps that memory alive.
    /// Faults like `translate` on the first page; a later page that is absent or different only
    /// ends the extent (translating there faults when the caller gets to it).
    func translateExtent(_ address: UInt64, _ length: Int, _ access: GpuAccess) throws(GpuFault) -> (UnsafeMutableRawPointer, Int, PageEntry) {
        let firstPage = address >> PageTable.pageShift
        let (first, pages) = state.withLock { state -> (PageEntry?, UInt64) in
            guard let first = Self.lookup(&state, page: firstPage, address: address) else { return (nil, 0) }
            let last = (address &+ UInt64(max(length, 1)) &- 1) >> PageTable.pageShift
            var pages: UInt64 = 1
            while firstPage &+ pages <= last, let next = state.table.lookup(page: firstPage &+ pages), next.memory === first.memory,
                  next.byteOffset == first.byteOffset &+ Int(pages << PageTable.pageShift), next.flags.contains(access.requiredFlag) {
                pages &+= 1
            }
            return (first, pages)
        }
        let entry = try Self.check(first, address, access)
        let offset = Int(address & (PageTable.pageSize - 1))
        return (entry.hostAddress + offset, min(length, Int(pages << PageTable.pageShift) - offset), entry)
    }

    /// The entry of `page`, filling it from a growable mapping on its first touch.
    private static func lookup(_ state: inout State, page: UInt64, address: UInt64) -> PageEntry? {
        if let entry = state.table.lookup(page: page) { return entry }
        guard let mapping = state.growable.first(where: { $0.gpuAddress <= address && address < $0.endAddress }) else { return nil }
        let entry = Self.entry(mapping, page: page)
        state.table.set(page: page, entry)
        return entry
    }

    /// The entry, or the fault for its absence or missing permission.
    private static func check(_ entry: PageEntry?, _ address: UInt64, _ access: GpuAccess) throws(GpuFault) -> PageEntry {
        guard let entry else { throw GpuFault(address: address, access: access, reason: .notMapped) }
        guard entry.flags.contains(access.requiredFlag) else { throw GpuFault(address: address, access: access, reason: .permission) }
        return entry
    }

    private static func entry(_ mapping: GpuMapping, page: UInt64) -> PageEntry {
        let byteOffset = mapping.offset + ((page << PageTable.pageShift) - mapping.gpuAddress)
        return PageEntry(memory: mapping.memory, byteOffset: Int(byteOffset), flags: mapping.flags)
    }

    /// The GPU pages of `mapping` backed by buffer bytes in `range`.
    private static func pages(_ mapping: GpuMapping, _ range: Range<UInt64>) -> Range<UInt64> {
        let low = max(range.lowerBound, mapping.offset)
        let high = min(range.upperBound, mapping.offset + mapping.length)
        guard low < high else { return 0..<0 }
        let first = (mapping.gpuAddress + (low - mapping.offset)) >> PageTable.pageShift
        let last = (mapping.gpuAddress + (high - mapping.offset) + PageTable.pageSize - 1) >> PageTable.pageShift
        return first..<last
    }

    private static func populate(_ table: inout PageTable, _ mapping: GpuMapping, bufferRange: Range<UInt64>) {
        for page in pages(mapping, bufferRange) { table.set(page: page, entry(mapping, page: page)) }
    }

    private static func depopulate(_ table: inout PageTable, _ mapping: GpuMapping, bufferRange: Range<UInt64>) {
        for page in pages(mapping, bufferRange) { table.set(page: page, nil) }
    }
}
