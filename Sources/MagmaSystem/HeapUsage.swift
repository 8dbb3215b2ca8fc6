import MagmaPlatform
import MagmaProtocol

/// The bytes each memory heap of a device holds, device-wide: every connection's buffers
/// together, against the heap's size (its budget). A heap is the device's memory, shared by
/// all its clients, so its budget is device-wide; each connection also knows its own share
/// (`SystemConnection.memoryBudget(heap:)`).
final class HeapUsage: Sendable {
    /// The heaps' sizes.
    let sizes: [UInt64]
    private let used: Locked<[UInt64]>

    init(heaps: [MemoryHeap]) {
        sizes = heaps.map(\.size)
        used = Locked(Array(repeating: 0, count: heaps.count))
    }

    /// Counts `bytes` more in `heap`; MEMORY_ERROR, and nothing counted, past its size.
    func reserve(_ bytes: UInt64, in heap: Int) throws(MagmaError) {
        try used.withLock { used throws(MagmaError) in
            let (total, overflow) = used[heap].addingReportingOverflow(bytes)
            guard !overflow, total <= sizes[heap] else {
                throw .memoryError("\(bytes) bytes do not fit in heap \(heap): \(used[heap]) of its \(sizes[heap]) bytes are in use")
            }
            used[heap] = total
        }
    }

    /// Gives back `bytes` of `heap`.
    func release(_ bytes: UInt64, in heap: Int) {
        used.withLock { $0[heap] -= bytes }
    }

    /// Bytes `heap` holds now.
    func inUse(_ heap: Int) -> UInt64 { used.withLock { $0[heap] } }
}
