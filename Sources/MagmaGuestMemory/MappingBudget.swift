import Synchronization

/// How many kernel mappings one guest's live views may hold: taken when a view is made, given
/// back when it is unmapped (the view may outlive its `GuestMemory`, so this is its own object).
final class MappingBudget: Sendable {
    let used = Atomic<Int>(0)
    let limit: Int

    init(limit: Int) { self.limit = max(0, limit) }

    /// Takes `count` mappings, or throws if they would pass the limit (nothing taken).
    func take(_ count: Int) throws(GuestMemoryError) {
        var current = used.load(ordering: .relaxed)
        while true {
            guard count <= limit - current else { throw .mappingLimit(needed: count, inUse: current, limit: limit) }
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + count, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    func give(_ count: Int) { used.subtract(count, ordering: .relaxed) }
}
