import MagmaPlatform
import MagmaProtocol

/// A page-table entry: which memory backs one GPU page, and what the GPU may do with it.
struct PageEntry {
    /// The buffer memory; holding it keeps the host mapping alive.
    let memory: SharedMemory
    /// Byte offset of the page inside `memory`.
    let byteOffset: Int
    /// Access permissions.
    let flags: MapFlags

    /// Host address of the first byte of the page.
    var hostAddress: UnsafeMutableRawPointer { memory.base + byteOffset }
}

/// A four-level radix page table over a 48-bit GPU address space with 4 KiB pages:
/// 9 bits of page number per level, 512 entries per node, like x86-64.
struct PageTable {
    static let pageShift: UInt64 = 12
    static let pageSize: UInt64 = 1 << pageShift
    private static let levelBits: UInt64 = 9
    private static let fanout = 1 << levelBits

    private final class Directory {
        var children: [Directory?] = Array(repeating: nil, count: PageTable.fanout)
        var leaves: [PageEntry?] = []
        var population = 0
    }

    private var root = Directory()

    /// Number of pages currently present.
    private(set) var presentPages = 0

    private static func index(_ page: UInt64, level: UInt64) -> Int {
        Int((page >> (level * levelBits)) & UInt64(fanout - 1))
    }

    /// The entry for GPU page number `page`, if present.
    func lookup(page: UInt64) -> PageEntry? {
        var node = root
        for level in stride(from: UInt64(3), to: 0, by: -1) {
            guard let next = node.children[Self.index(page, level: level)] else { return nil }
            node = next
        }
        let slot = Self.index(page, level: 0)
        return node.leaves.isEmpty ? nil : node.leaves[slot]
    }

    /// Sets (or with nil, clears) the entry for `page`. Empty directories are freed.
    mutating func set(page: UInt64, _ entry: PageEntry?) {
        var path: [(Directory, Int)] = []
        var node = root
        for level in stride(from: UInt64(3), to: 0, by: -1) {
            let slot = Self.index(page, level: level)
            path.append((node, slot))
            if let next = node.children[slot] {
                node = next
            } else {
                guard entry != nil else { return }
                let created = Directory()
                node.children[slot] = created
                node.population += 1
                node = created
            }
        }
        if node.leaves.isEmpty {
            guard entry != nil else { return }
            node.leaves = Array(repeating: nil, count: Self.fanout)
        }
        let slot = Self.index(page, level: 0)
        let wasPresent = node.leaves[slot] != nil
        node.leaves[slot] = entry
        switch (wasPresent, entry != nil) {
        case (false, true):
            node.population += 1
            presentPages += 1
        case (true, false):
            node.population -= 1
            presentPages -= 1
            // Free directories that became empty, bottom up.
            var child = node
            for (parent, parentSlot) in path.reversed() where child.population == 0 {
                parent.children[parentSlot] = nil
                parent.population -= 1
                child = parent
            }
        default:
            break
        }
    }
}
