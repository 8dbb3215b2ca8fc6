/// Hands out runs of contiguous guest physical pages, first fit, and takes them back: the
/// socket guest's addresses for resources (each run one resource's region of guest memory,
/// its own memfd), as a guest kernel's page allocator gives virtio-gpu backings.
struct GuestPageAllocator {
    /// Free runs: first page -> page count, disjoint, coalesced.
    private var free: [Int: Int]

    init(pages: Int) { free = pages > 0 ? [0: pages] : [:] }

    /// The first page of a run of `count` pages, or nil if no run is that long.
    mutating func allocate(_ count: Int) -> Int? {
        guard count > 0, let start = free.keys.sorted().first(where: { free[$0]! >= count }) else { return nil }
        let length = free.removeValue(forKey: start)!
        if length > count { free[start + count] = length - count }
        return start
    }

    /// Gives back the run from `start` of `count` pages.
    mutating func release(_ start: Int, count: Int) {
        var start = start, count = count
        if let (before, length) = free.first(where: { $0.key + $0.value == start }) {
            free[before] = nil
            start = before
            count += length
        }
        if let after = free.removeValue(forKey: start + count) { count += after }
        free[start] = count
    }

    /// Pages free in all.
    var freePages: Int { free.values.reduce(0, +) }
}
