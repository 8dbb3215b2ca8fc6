import MagmaPlatform

extension GpuAccess {
    /// The access as a bit of a permission mask (its raw value), without the raw-value switch.
    @inline(__always) var bit: UInt32 {
        switch self {
        case .read: 1
        case .write: 2
        case .execute: 4
        }
    }
}

/// A small fully associative TLB in front of an address space, for one executing worker or
/// engine slice: the last `TranslationCache.capacity` pages it translated, with what they allow.
///
/// It keeps the memory of each cached page alive, so even a stale entry never points at unmapped
/// host memory; and it is emptied whenever the address space removes pages (its generation).
/// A hit costs a generation load and a few compares; a miss takes the address space's lock.
struct TranslationCache {
    /// Pages held: enough for a kernel's streams (vector add touches three) plus a spare.
    @inline(__always) static var capacity: Int { 4 }
    // PageTable's page geometry as literals: its stored statics are reached through an addressor.
    @inline(__always) private static var pageShift: UInt64 { 12 }
    @inline(__always) private static var pageMask: UInt64 { 4095 }

    /// One cached page.
    fileprivate struct Slot {
        /// GPU page number; `.max` for an empty slot.
        var page: UInt64 = .max
        /// The accesses the page allows (`GpuAccess` raw values or-ed together).
        var allowed: UInt32 = 0
        /// Host address of the page's first byte.
        var host: UnsafeMutableRawPointer?
    }

    /// The slots and the page entries that keep their memory alive. A class whose storage is
    /// reached through `let` pointers: the hit path does no reference counting or exclusivity checks.
    private final class Storage {
        let slots = UnsafeMutablePointer<Slot>.allocate(capacity: TranslationCache.capacity)
        let entries = UnsafeMutablePointer<PageEntry?>.allocate(capacity: TranslationCache.capacity)

        init() {
            slots.initialize(repeating: Slot(), count: TranslationCache.capacity)
            entries.initialize(repeating: nil, count: TranslationCache.capacity)
        }

        deinit {
            slots.deallocate()
            entries.deinitialize(count: TranslationCache.capacity)
            entries.deallocate()
        }
    }

    let space: AddressSpace
    private let storage = Storage()
    private var generation: UInt64
    /// The slot the next miss replaces (round robin).
    private var victim = 0

    init(_ space: AddressSpace) {
        self.space = space
        generation = space.generation.load(ordering: .acquiring)
    }

    /// The host address of `address` if its page is cached for `access`, else nil: the hit path
    /// alone, small enough to inline into the interpreter's loop.
    @inline(__always)
    func cached(_ address: UInt64, _ access: GpuAccess) -> UnsafeMutableRawPointer? {
        guard space.generation.load(ordering: .acquiring) == generation else { return nil }
        let page = address >> Self.pageShift
        let slots = storage.slots
        let bit = access.bit
        for index in 0..<Self.capacity where slots[index].page == page && slots[index].allowed & bit != 0 {
            return slots[index].host.unsafelyUnwrapped + Int(address & Self.pageMask)
        }
        return nil
    }

    /// Host address of the byte at `address`, which must be aligned to `alignment`; the access
    /// may run to the end of its page, not beyond.
    @inline(__always)
    mutating func pointer(_ address: UInt64, _ access: GpuAccess, alignment: UInt64 = 1) throws(GpuFault) -> UnsafeMutableRawPointer {
        guard address & (alignment &- 1) == 0 else { throw GpuFault(address: address, access: access, reason: .misaligned) }
        let page = address >> Self.pageShift
        let offset = Int(address & Self.pageMask)
        if space.generation.load(ordering: .acquiring) == generation {
            let slots = storage.slots
            let bit = access.bit
            for index in 0..<Self.capacity where slots[index].page == page && slots[index].allowed & bit != 0 {
                return slots[index].host.unsafelyUnwrapped + offset
            }
        }
        return try miss(address, access) + offset
    }

    /// Translates through the address space and caches the page.
    @inline(never)
    private mutating func miss(_ address: UInt64, _ access: GpuAccess) throws(GpuFault) -> UnsafeMutableRawPointer {
        let current = space.generation.load(ordering: .acquiring)
        if current != generation {
            for index in 0..<Self.capacity {
                storage.slots[index] = Slot()
                storage.entries[index] = nil
            }
            generation = current
        }
        let entry = try space.translate(address, access)
        let page = address >> PageTable.pageShift
        // The same page cached for another access is replaced in place.
        var index = victim
        if let cached = (0..<Self.capacity).first(where: { storage.slots[$0].page == page }) {
            index = cached
        } else {
            victim = (victim + 1) % Self.capacity
        }
        var allowed: UInt32 = 0
        for kind in [GpuAccess.read, .write, .execute] where entry.flags.contains(kind.requiredFlag) { allowed |= kind.bit }
        storage.entries[index] = entry
        storage.slots[index] = Slot(page: page, allowed: allowed, host: entry.hostAddress)
        return entry.hostAddress
    }

    /// Bytes from `address` to the end of its page, capped at `remaining`.
    @inline(__always)
    static func restOfPage(_ address: UInt64, _ remaining: Int) -> Int {
        min(remaining, Int(Self.pageMask &+ 1 &- (address & Self.pageMask)))
    }

    /// Copies `count` bytes from GPU `address` to `destination`, page by page, checking `alignment`
    /// at `address`. Faults at the first byte of the first page that cannot be read.
    @inline(__always)
    mutating func read(_ address: UInt64, _ count: Int, into destination: UnsafeMutableRawPointer, alignment: UInt64) throws(GpuFault) {
        var done = 0
        while done < count {
            let at = address &+ UInt64(done)
            let bytes = Self.restOfPage(at, count - done)
            let source = try pointer(at, .read, alignment: done == 0 ? alignment : 1)
            (destination + done).copyMemory(from: source, byteCount: bytes)
            done += bytes
        }
    }

    /// Copies `count` bytes from `source` to GPU `address`, page by page (each page written before
    /// the next is translated), checking `alignment` at `address`.
    @inline(__always)
    mutating func write(_ address: UInt64, _ count: Int, from source: UnsafeRawPointer, alignment: UInt64) throws(GpuFault) {
        var done = 0
        while done < count {
            let at = address &+ UInt64(done)
            let bytes = Self.restOfPage(at, count - done)
            let target = try pointer(at, .write, alignment: done == 0 ? alignment : 1)
            target.copyMemory(from: source + done, byteCount: bytes)
            done += bytes
        }
    }
}
