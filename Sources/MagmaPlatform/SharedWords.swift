import CMagmaLinux

/// Atomic loads and stores of little-endian words in memory another party shares: another
/// thread, another process, or a guest behind a hypervisor (MagmaRing's headers).
///
/// Swift's `Atomic` (the Synchronization module) cannot be used here: it must own its storage
/// (a `~Copyable` value laid out by Swift), and cannot be pointed at memory someone else mapped.
/// These call the `static inline` `__atomic_*` wrappers of CMagmaLinux, which an `-O` build
/// inlines to single instructions. Each address must be naturally aligned; values are converted
/// from and to little-endian, so the layout is the same on every host.
public enum SharedWords {
    /// Loads a 64-bit word with acquire ordering.
    @inlinable public static func loadAcquire64(_ address: UnsafeRawPointer) -> UInt64 {
        UInt64(littleEndian: cmagma_load_acquire_u64(address))
    }

    /// Stores a 64-bit word with release ordering.
    @inlinable public static func storeRelease64(_ address: UnsafeMutableRawPointer, _ value: UInt64) {
        cmagma_store_release_u64(address, value.littleEndian)
    }

    /// Loads a 32-bit word with acquire ordering.
    @inlinable public static func loadAcquire32(_ address: UnsafeRawPointer) -> UInt32 {
        UInt32(littleEndian: cmagma_load_acquire_u32(address))
    }

    /// Stores a 32-bit word with release ordering.
    @inlinable public static func storeRelease32(_ address: UnsafeMutableRawPointer, _ value: UInt32) {
        cmagma_store_release_u32(address, value.littleEndian)
    }

    /// Loads a 64-bit word, sequentially consistent (ordered after an earlier seq_cst store).
    @inlinable public static func loadSequential64(_ address: UnsafeRawPointer) -> UInt64 {
        UInt64(littleEndian: cmagma_load_seq_cst_u64(address))
    }

    /// Stores a 64-bit word, sequentially consistent (a later seq_cst load is not moved before it).
    @inlinable public static func storeSequential64(_ address: UnsafeMutableRawPointer, _ value: UInt64) {
        cmagma_store_seq_cst_u64(address, value.littleEndian)
    }

    /// Loads a 32-bit word, sequentially consistent.
    @inlinable public static func loadSequential32(_ address: UnsafeRawPointer) -> UInt32 {
        UInt32(littleEndian: cmagma_load_seq_cst_u32(address))
    }

    /// Stores a 32-bit word, sequentially consistent.
    @inlinable public static func storeSequential32(_ address: UnsafeMutableRawPointer, _ value: UInt32) {
        cmagma_store_seq_cst_u32(address, value.littleEndian)
    }

    /// Replaces a 32-bit word holding `expected` by `desired`, sequentially consistent; returns
    /// the value the word held (equal to `expected` when it was replaced).
    @inlinable public static func compareExchange32(_ address: UnsafeMutableRawPointer, expected: UInt32, desired: UInt32) -> UInt32 {
        UInt32(littleEndian: cmagma_compare_exchange_seq_cst_u32(address, expected.littleEndian, desired.littleEndian))
    }

    /// Tells the CPU this thread is spinning (`pause` on x86-64, `yield` on arm64).
    @inlinable public static func spinHint() { cmagma_cpu_relax() }
}
