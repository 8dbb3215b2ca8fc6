import CMagmaLinux
import MagmaGuestMemory

/// A split virtqueue in shared guest memory (virtio 1.x, 2.7): the descriptor table, the
/// driver's available ring and the device's used ring, each bounds-checked once when the ring
/// is set up. Indices are read and written with the ordering the spec requires: the available
/// index is loaded with acquire before the entries and descriptors it publishes are read, and
/// the used index is stored with release after the used entries are written.
///
/// With VIRTIO_RING_F_EVENT_IDX (2.7.7, 2.7.10) the device writes avail_event (after the used
/// ring) each time it has taken every available entry, so the driver kicks for the next one, and
/// interrupts only when the used index passes the driver's used_event (after the available ring)
/// instead of following the NO_INTERRUPT flag.
///
/// Not thread-safe by itself: its owner (`Vring`, under the back-end's lock) serializes it.
struct SplitVirtqueue {
    /// Descriptors in the table (a power of two, at most 32768).
    let size: Int
    let descriptors: GuestRange
    let available: GuestRange
    let used: GuestRange
    let memory: VhostUserMemoryTable
    let indirectAllowed: Bool
    /// Whether VIRTIO_RING_F_EVENT_IDX was negotiated.
    let eventIndex: Bool
    /// The next available entry to take (the ring's "base").
    private(set) var lastAvailable: UInt16
    /// The next used entry to fill.
    private(set) var nextUsed: UInt16
    /// The used index when the device last decided whether to interrupt (EVENT_IDX).
    private var usedAtLastInterruptCheck: UInt16

    static let maxSize = 32_768
    /// VRING_AVAIL_F_NO_INTERRUPT: the driver does not want interrupts now.
    static let noInterrupt: UInt16 = 1

    /// The ring of `size` entries whose parts are at the front-end addresses of `address`,
    /// starting from available entry `base`. Parts outside the memory table, misaligned or
    /// overflowing throw.
    init(size: Int, address: VhostUserVringAddress, base: UInt16, memory: VhostUserMemoryTable, indirectAllowed: Bool,
         eventIndex: Bool = false) throws(VhostUserError) {
        guard size > 0, size <= Self.maxSize, size & (size - 1) == 0 else { throw .invalid("ring \(address.index): size \(size) is not a power of two up to 32768") }
        descriptors = try memory.translate(userAddress: address.descriptors, length: UInt64(16 * size))
        available = try memory.translate(userAddress: address.available, length: UInt64(4 + 2 * size + 2))
        used = try memory.translate(userAddress: address.used, length: UInt64(4 + 8 * size + 2))
        guard Int(bitPattern: descriptors.bytes.baseAddress) % 16 == 0, Int(bitPattern: available.bytes.baseAddress) % 2 == 0,
              Int(bitPattern: used.bytes.baseAddress) % 4 == 0 else {
            throw .invalid("ring \(address.index): a part is misaligned (descriptors 16, available 2, used 4 bytes)")
        }
        self.size = size
        self.memory = memory
        self.indirectAllowed = indirectAllowed
        self.eventIndex = eventIndex
        lastAvailable = base
        nextUsed = UInt16(littleEndian: cmagma_load_acquire_u16(used.bytes.baseAddress! + 2))
        usedAtLastInterruptCheck = nextUsed
    }

    /// avail_event's offset in the used ring; used_event's is 4 + 2 * size in the available ring.
    private var availableEventOffset: Int { 4 + 8 * size }

    /// The next chain the driver made available, nil when there is none. A bad head index, a
    /// driver that claims more entries than the ring holds, or a bad chain throws (and the
    /// entry counts as taken: the caller stops the ring).
    mutating func next() throws(VhostUserError) -> DescriptorChain? {
        var published = UInt16(littleEndian: cmagma_load_acquire_u16(available.bytes.baseAddress! + 2))
        if published == lastAvailable, eventIndex {
            // Everything is taken: ask for a kick at the next entry, then look once more, so an
            // entry published before the driver could see avail_event is not left waiting.
            cmagma_store_release_u16(used.bytes.baseAddress! + availableEventOffset, lastAvailable.littleEndian)
            cmagma_fence_seq_cst()
            published = UInt16(littleEndian: cmagma_load_acquire_u16(available.bytes.baseAddress! + 2))
        }
        let pending = Int(published &- lastAvailable)
        guard pending > 0 else { return nil }
        guard pending <= size else { throw .invalid("available index \(published) is \(pending) entries past \(lastAvailable), in a ring of \(size)") }
        let slot = Int(lastAvailable) % size
        let head = UInt16(littleEndian: available.bytes.loadUnaligned(fromByteOffset: 4 + 2 * slot, as: UInt16.self))
        lastAvailable &+= 1
        guard Int(head) < size else { throw .invalid("available entry \(slot): head \(head) is past a table of \(size)") }
        return try DescriptorChain.walk(head: head, table: descriptors, size: size, memory: memory, indirectAllowed: indirectAllowed)
    }

    /// Publishes `head`'s completion with `written` bytes written to its writable buffers.
    mutating func complete(head: UInt16, written: UInt32) {
        let slot = Int(nextUsed) % size
        used.bytes.storeBytes(of: UInt32(head).littleEndian, toByteOffset: 4 + 8 * slot, as: UInt32.self)
        used.bytes.storeBytes(of: written.littleEndian, toByteOffset: 8 + 8 * slot, as: UInt32.self)
        nextUsed &+= 1
        cmagma_store_release_u16(used.bytes.baseAddress! + 2, nextUsed.littleEndian)
    }

    /// Whether the driver wants an interrupt for what was published since the last call (read
    /// after a full fence, so the used index store is visible before the driver's word is read):
    /// with EVENT_IDX, when the used index passed used_event; without, unless NO_INTERRUPT is set.
    mutating func wantsInterrupt() -> Bool {
        cmagma_fence_seq_cst()
        guard eventIndex else {
            return UInt16(littleEndian: cmagma_load_acquire_u16(available.bytes.baseAddress!)) & Self.noInterrupt == 0
        }
        let usedEvent = UInt16(littleEndian: cmagma_load_acquire_u16(available.bytes.baseAddress! + 4 + 2 * size))
        let previous = usedAtLastInterruptCheck
        usedAtLastInterruptCheck = nextUsed
        // vring_need_event: used_event lies in [previous, nextUsed), modulo 2^16.
        return nextUsed &- usedEvent &- 1 < nextUsed &- previous
    }
}
