/// A connection's GPU mappings, ordered by address, with overlap detection.
struct MappingTable {
    private(set) var mappings: [GpuMapping] = []

    /// Mappings held.
    var count: Int { mappings.count }

    /// Index of the first mapping whose start is at or above `address`.
    private func lowerBound(_ address: UInt64) -> Int {
        var low = 0, high = mappings.count
        while low < high {
            let mid = (low + high) / 2
            if mappings[mid].gpuAddress < address { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Whether `start ..< end` intersects an existing mapping.
    func overlaps(start: UInt64, end: UInt64) -> Bool {
        let index = lowerBound(start)
        if index < mappings.count, mappings[index].gpuAddress < end { return true }
        if index > 0, mappings[index - 1].endAddress > start { return true }
        return false
    }

    /// Inserts a mapping that does not overlap any other.
    mutating func insert(_ mapping: GpuMapping) {
        mappings.insert(mapping, at: lowerBound(mapping.gpuAddress))
    }

    /// The mapping that starts exactly at `address`.
    func mapping(at address: UInt64) -> GpuMapping? {
        let index = lowerBound(address)
        guard index < mappings.count, mappings[index].gpuAddress == address else { return nil }
        return mappings[index]
    }

    /// Removes and returns the mapping that starts exactly at `address`.
    mutating func remove(at address: UInt64) -> GpuMapping? {
        let index = lowerBound(address)
        guard index < mappings.count, mappings[index].gpuAddress == address else { return nil }
        return mappings.remove(at: index)
    }

    /// Every mapping that intersects `range`, in address order.
    func mappings(overlapping range: Range<UInt64>) -> [GpuMapping] {
        var index = lowerBound(range.lowerBound)
        if index > 0, mappings[index - 1].endAddress > range.lowerBound { index -= 1 }
        var found: [GpuMapping] = []
        while index < mappings.count, mappings[index].gpuAddress < range.upperBound {
            found.append(mappings[index])
            index += 1
        }
        return found
    }

    /// Every mapping of one buffer.
    func mappings(of bufferId: UInt64) -> [GpuMapping] { mappings.filter { $0.bufferId == bufferId } }

    /// Removes and returns every mapping of one buffer.
    mutating func removeAll(of bufferId: UInt64) -> [GpuMapping] {
        let removed = mappings(of: bufferId)
        mappings.removeAll { $0.bufferId == bufferId }
        return removed
    }
}
