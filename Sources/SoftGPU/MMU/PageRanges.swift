/// A set of page numbers kept as sorted, disjoint, non-adjacent ranges: its size grows with the
/// number of ranges, never with the number of pages.
struct PageRanges {
    private(set) var ranges: [Range<UInt64>] = []

    /// Pages in the set.
    var count: UInt64 { ranges.reduce(0) { $0 + UInt64($1.count) } }

    /// Whether `page` is in the set.
    func contains(_ page: UInt64) -> Bool {
        let index = firstIndex { $0.upperBound > page }
        return index < ranges.count && ranges[index].lowerBound <= page
    }

    /// The first page in the set at or after `page`, or nil if none is.
    func firstPage(atOrAfter page: UInt64) -> UInt64? {
        let index = firstIndex { $0.upperBound > page }
        return index < ranges.count ? max(ranges[index].lowerBound, page) : nil
    }

    /// Adds `pages`, merging with the ranges it overlaps or touches.
    mutating func insert(_ pages: Range<UInt64>) {
        guard !pages.isEmpty else { return }
        let start = firstIndex { $0.upperBound >= pages.lowerBound }
        var end = start
        var merged = pages
        while end < ranges.count, ranges[end].lowerBound <= merged.upperBound {
            merged = min(merged.lowerBound, ranges[end].lowerBound)..<max(merged.upperBound, ranges[end].upperBound)
            end += 1
        }
        ranges.replaceSubrange(start..<end, with: [merged])
    }

    /// Removes `pages`, splitting the range it cuts through.
    mutating func remove(_ pages: Range<UInt64>) {
        guard !pages.isEmpty else { return }
        let start = firstIndex { $0.upperBound > pages.lowerBound }
        var end = start
        var kept: [Range<UInt64>] = []
        while end < ranges.count, ranges[end].lowerBound < pages.upperBound {
            let range = ranges[end]
            if range.lowerBound < pages.lowerBound { kept.append(range.lowerBound..<pages.lowerBound) }
            if range.upperBound > pages.upperBound { kept.append(pages.upperBound..<range.upperBound) }
            end += 1
        }
        ranges.replaceSubrange(start..<end, with: kept)
    }

    /// The first index whose range satisfies `isAtOrAfter` (which must be false, then true,
    /// along the sorted ranges), or `ranges.count`.
    private func firstIndex(where isAtOrAfter: (Range<UInt64>) -> Bool) -> Int {
        var low = 0
        var high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if isAtOrAfter(ranges[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
