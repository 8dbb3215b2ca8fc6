import MagmaGuestMemory

/// One request the driver made available: the head descriptor's index and the guest buffers
/// of its chain, device-readable ones first, then device-writable ones, each translated and
/// bounds-checked against the memory table.
public struct DescriptorChain: Sendable {
    /// The head's index in the descriptor table (what the used ring reports back).
    public let head: UInt16
    /// The buffers the device reads, in chain order.
    public let readable: [GuestRange]
    /// The buffers the device writes, in chain order.
    public let writable: [GuestRange]

    /// Bytes the device may read.
    public var readableBytes: Int { readable.reduce(0) { $0 + $1.bytes.count } }

    /// A copy of the readable buffers' bytes, concatenated: read once, checked afterwards in
    /// host memory (the guest may change its buffers at any time). Nil past `limit` bytes.
    public func readAll(limit: Int) -> [UInt8]? {
        guard readableBytes <= limit else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(readableBytes)
        for range in readable { out.append(contentsOf: range.bytes) }
        return out
    }

    /// Writes `bytes` across the writable buffers in order; returns how many fit.
    public func write(_ bytes: [UInt8]) -> Int {
        var written = 0
        for range in writable where written < bytes.count {
            let count = min(range.bytes.count, bytes.count - written)
            bytes.withUnsafeBytes { source in
                range.bytes.baseAddress!.copyMemory(from: source.baseAddress! + written, byteCount: count)
            }
            written += count
        }
        return written
    }
}

/// A descriptor as read from the table (16 bytes: address, length, flags, next).
struct VirtqueueDescriptor {
    static let byteCount = 16
    static let next: UInt16 = 1
    static let write: UInt16 = 2
    static let indirect: UInt16 = 4

    let address: UInt64
    let length: UInt32
    let flags: UInt16
    let nextIndex: UInt16

    /// The descriptor at `index` of `table`, read once into host memory.
    init(table: GuestRange, index: Int) throws(VhostUserError) {
        let offset = index * Self.byteCount
        do {
            address = UInt64(littleEndian: try table.load(UInt64.self, at: offset))
            length = UInt32(littleEndian: try table.load(UInt32.self, at: offset + 8))
            flags = UInt16(littleEndian: try table.load(UInt16.self, at: offset + 12))
            nextIndex = UInt16(littleEndian: try table.load(UInt16.self, at: offset + 14))
        } catch { throw .memory(error) }
    }
}

extension DescriptorChain {
    /// The most descriptors an indirect table may hold (the split ring's largest size).
    static let maxIndirect = 32_768

    /// Walks the chain from `head` in `table` (`size` descriptors). A loop, an index past the
    /// table, a buffer outside guest memory, a readable buffer after a writable one, or an
    /// indirect table that is nested, unaligned, empty or not negotiated throws: each walk
    /// visits at most `size` descriptors (and an indirect table's count), so it never hangs.
    static func walk(head: UInt16, table: GuestRange, size: Int, memory: VhostUserMemoryTable,
                     indirectAllowed: Bool) throws(VhostUserError) -> DescriptorChain {
        var readable: [GuestRange] = [], writable: [GuestRange] = []
        var current = try VirtqueueDescriptor(table: table, index: Int(head))
        var index = Int(head), visited = 1
        var inTable = table, tableSize = size, indirect = false
        while true {
            if current.flags & VirtqueueDescriptor.indirect != 0 {
                guard indirectAllowed else { throw .invalid("descriptor \(index): INDIRECT was not negotiated") }
                guard !indirect else { throw .invalid("descriptor \(index): an indirect table inside an indirect table") }
                guard current.flags & VirtqueueDescriptor.next == 0 else { throw .invalid("descriptor \(index): INDIRECT with NEXT") }
                let count = Int(current.length) / VirtqueueDescriptor.byteCount
                guard current.length > 0, Int(current.length) % VirtqueueDescriptor.byteCount == 0, count <= maxIndirect else {
                    throw .invalid("descriptor \(index): an indirect table of \(current.length) bytes")
                }
                inTable = try memory.translate(guestAddress: current.address, length: UInt64(current.length))
                tableSize = count
                indirect = true
                index = 0
                visited = 1
                current = try VirtqueueDescriptor(table: inTable, index: 0)
                continue
            }
            if current.length > 0 {
                let range = try memory.translate(guestAddress: current.address, length: UInt64(current.length))
                if current.flags & VirtqueueDescriptor.write != 0 {
                    writable.append(range)
                } else {
                    guard writable.isEmpty else { throw .invalid("descriptor \(index): device-readable after device-writable") }
                    readable.append(range)
                }
            }
            guard current.flags & VirtqueueDescriptor.next != 0 else { break }
            let next = Int(current.nextIndex)
            guard next < tableSize else { throw .invalid("descriptor \(index): next \(next) is past a table of \(tableSize)") }
            guard visited < tableSize else { throw .invalid("descriptor chain from \(head) is longer than its table (a loop)") }
            visited += 1
            index = next
            current = try VirtqueueDescriptor(table: inTable, index: next)
        }
        return DescriptorChain(head: head, readable: readable, writable: writable)
    }
}
