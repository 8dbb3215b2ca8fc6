import CMagmaLinux

/// Atomic operations on GPU-visible memory shared with other threads and processes.
enum SharedAtomics {
    /// Adds `value` to the 32-bit word at `pointer`; returns the previous value.
    static func add(_ pointer: UnsafeMutableRawPointer, _ value: UInt32) -> UInt32 {
        cmagma_atomic_add_u32(pointer.assumingMemoryBound(to: UInt32.self), value)
    }
}
