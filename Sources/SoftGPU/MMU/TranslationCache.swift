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
/// engine slice: the last `TranslationCache.capacity` runs of pages it translated. A miss
/// translates a whole run of up to `runPages` pages that follow each other in one buffer's memory
/// and allow the access (`AddressSpace.translateExtent`), so a stream crossing pages misses once
/// per run, not once per page, and workers rarely meet on the address space's lock.
///
/// It keeps the memory of each cached run alive, so even a stale entry never points at unmapped
/// host memory; and it is emptied whenever the address space removes pages (its generation).
/// A hit costs a generation load and a few compares.
struct TranslationCache {
    /// Runs held: enough for a kernel's streams (vector add touches three) plus a spare.
    @inline(__always) static var capacity: Int { 4 }
    /// Pages a miss translates at most (256 KiB).
    @inline(__always) static var runPages: Int { 64 }
    // PageEntry's page geometry as literals: its stored statics are reached through an addressor.
    @inline(__always) private static var pageShift: UInt64 { 12 }
    @inline(__always) private static var pageMask: UInt64 { 4095 }

    /// One cached run of pages.
    fileprivate struct Slot {
        /// GPU address of the run's first byte (page aligned).
        var base: UInt64 = 0
        /// Bytes in the run; 0 for an empty slot.
        var length: UInt64 = 0
        /// The access the run was translated for (a `GpuAccess` raw value).
        var allowed: UInt32 = 0
        /// Host address of the run's first byte.
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

    /// The host address of `address` if a cached run holds it for `access`, else nil: the hit
    /// path alone, small enough to inline into the interpreter's loop.
    @inline(__always)
    func cached(_ address: UInt64, _ access: GpuAccess) -> UnsafeMutableRawPointer? {
        guard space.generation.load(ordering: .acquiring) == generation else { return nil }
        let slots = storage.slots
        let bit = access.bit
        for index in 0..<Self.capacity where address &- slots[index].base < slots[index].length && slots[index].allowed & bit != 0 {
            return slots[index].host.unsafelyUnwrapped + Int(address &- slots[index].base)
        }
        return nil
    }

    /// Host address of the byte at `address`, which must be aligned to `alignment`; the access
    /// may run to the end of its page, not beyond.
    @inline(__always)
    mutating func pointer(_ address: UInt64, _ access: GpuAccess, alignment: UInt64 = 1) throws(GpuFault) -> UnsafeMutableRawPointer {
        guard address & (alignment &- 1) == 0 else { throw GpuFault(address: address, access: access, reason: .misaligned) }
        if let hit = cached(address, access) { return hit }
        return try miss(address, access)
    }

    /// Translates the run of pages from `address`'s page through the address space and caches it.
    /// Faults exactly as translating `address` alone would.
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
        let base = address & ~Self.pageMask
        let (host, length, entry): (UnsafeMutableRawPointer, Int, PageEntry)
        do {
            (host, length, entry) = try space.translateExtent(base, Self.runPages << Int(Self.pageShift), access)
        } catch {
            throw GpuFault(address: address, access: access, reason: error.reason)
        }
        // A run holding this page for another access is replaced in place.
        var index = victim
        if let cached = (0..<Self.capacity).first(where: { address &- storage.slots[$0].base < storage.slots[$0].length }) {
            index = cached
        } else {
            victim = (victim + 1) % Self.capacity
        }
        storage.entries[index] = entry
        storage.slots[index] = Slot(base: base, length: UInt64(length), allowed: access.bit, host: host)
        return host + Int(address &- base)
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
