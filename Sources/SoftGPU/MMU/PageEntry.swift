import MagmaPlatform
import MagmaProtocol

/// A translation: which memory backs one GPU page, and what the GPU may do with it.
struct PageEntry {
    /// GPU pages are 4 KiB.
    static let pageShift: UInt64 = 12
    /// Bytes in a GPU page.
    static let pageSize: UInt64 = 1 << pageShift

    /// The buffer memory; holding it keeps the host mapping alive.
    let memory: SharedMemory
    /// Byte offset of the page inside `memory`.
    let byteOffset: Int
    /// Access permissions.
    let flags: MapFlags

    /// Host address of the first byte of the page.
    var hostAddress: UnsafeMutableRawPointer { memory.base + byteOffset }
}
