import CMagmaLinux
import Glibc
import SystemPackage

/// A timeline semaphore whose state lives in one shared page: a sealed memfd that every process
/// holding the timeline and the driver that imported it map, so all of them see one timeline.
///
/// The page holds (little-endian, at fixed offsets) the 64-bit value, an error status, a futex
/// word, a magic number and a layout version. The value only grows: `signal(to:)` of a point
/// not above it is refused and changes nothing. `fail(status:)` records why the work that was
/// to signal the timeline failed; every wait on it then ends with that status, whatever point
/// it waits for. Each change bumps the futex word and wakes its waiters in every process
/// (`TimelineWatch` waits for them without polling on a timer).
///
/// Whoever holds the descriptor can write the page: the timeline is as trusted as the least
/// trusted of its holders. Nothing here traps on what a peer wrote (any value, any status).
public final class Timeline: @unchecked Sendable {
    /// The page.
    public let memory: SharedMemory
    /// The page's memfd. Duplicate it to hand the timeline to another process or connection.
    public let descriptor: OwnedFileDescriptor

    private static let valueOffset = 0
    private static let statusOffset = 8
    private static let sequenceOffset = 12
    private static let magicOffset = 16
    private static let versionOffset = 20
    /// "MTL1" in the page's magic word: what `importing` looks for besides the seals.
    static let magic: UInt32 = 0x314c_544d
    static let layoutVersion: UInt32 = 1

    private init(memory: SharedMemory, descriptor: OwnedFileDescriptor) {
        self.memory = memory
        self.descriptor = descriptor
    }

    /// Makes a timeline at `initialValue`, with no error.
    public static func create(initialValue: UInt64) throws(PlatformError) -> Timeline {
        let memory = try SharedMemory.create(size: SharedMemory.pageSize, name: "magma-timeline")
        guard let descriptor = memory.descriptor else { throw PlatformError(call: "timeline memory without a memfd", errno: .invalidArgument) }
        try SystemCall.once("fcntl(F_ADD_SEALS, F_SEAL_SEAL)") { cmagma_memfd_seal_seals(descriptor.rawValue) }
        let timeline = Timeline(memory: memory, descriptor: descriptor)
        timeline.word(at: valueOffset, as: UInt64.self).pointee = initialValue
        timeline.word(at: magicOffset, as: UInt32.self).pointee = magic
        timeline.word(at: versionOffset, as: UInt32.self).pointee = layoutVersion
        return timeline
    }

    /// Maps a timeline received from elsewhere. Only a one-page memfd sealed as `create` seals
    /// it (size and seals fixed, writes allowed) and marked with the timeline magic is accepted:
    /// anything else (a buffer's memfd, an unsealed memfd, a pipe) is EINVAL.
    public static func importing(_ descriptor: OwnedFileDescriptor) throws(PlatformError) -> Timeline {
        let seals = cmagma_memfd_get_seals(descriptor.rawValue)
        guard seals >= 0 else { throw PlatformError(call: "timeline is not a memfd", errno: .invalidArgument) }
        guard seals & cmagma_seal_timeline_bits == cmagma_seal_timeline_bits, seals & cmagma_seal_write_bits == 0 else {
            throw PlatformError(call: "memfd is not sealed as a timeline", errno: .invalidArgument)
        }
        var info = stat()
        try SystemCall.once("fstat") { fstat(descriptor.rawValue, &info) }
        guard Int(info.st_size) == SharedMemory.pageSize else {
            throw PlatformError(call: "timeline memfd of \(info.st_size) bytes", errno: .invalidArgument)
        }
        let timeline = Timeline(memory: try SharedMemory.importing(descriptor), descriptor: descriptor)
        guard timeline.load32(magicOffset) == magic, timeline.load32(versionOffset) == layoutVersion else {
            throw PlatformError(call: "memfd is not a timeline", errno: .invalidArgument)
        }
        return timeline
    }

    /// The last point signaled.
    public var value: UInt64 { cmagma_atomic_load_u64(word(at: Self.valueOffset, as: UInt64.self)) }

    /// The error status recorded by `fail(status:)` (a MagmaStatus raw value), or 0.
    public var status: Int32 { Int32(bitPattern: load32(Self.statusOffset)) }

    /// Whether a wait for `point` is over: the point is reached or the timeline has failed.
    public func isSettled(for point: UInt64) -> Bool { value >= point || status != 0 }

    /// Why `signal(to:)` refused a point.
    public enum SignalRefusal: Error, Equatable {
        /// The point is not above the current value (it goes backwards or repeats).
        case notAbove(current: UInt64)
    }

    /// Raises the value to `point`, which must be above it, and wakes every waiter.
    public func signal(to point: UInt64) throws(SignalRefusal) {
        let address = word(at: Self.valueOffset, as: UInt64.self)
        var current = cmagma_atomic_load_u64(address)
        while true {
            guard point > current else { throw .notAbove(current: current) }
            if cmagma_atomic_compare_exchange_u64(address, &current, point) != 0 { break }
        }
        wakeAll()
    }

    /// Records `status` (nonzero) as the timeline's error, unless it has one already, and
    /// wakes every waiter.
    public func fail(status: Int32) {
        precondition(status != 0, "a timeline fails with an error status")
        var expected: UInt32 = 0
        _ = cmagma_atomic_compare_exchange_u32(word(at: Self.statusOffset, as: UInt32.self), &expected, UInt32(bitPattern: status))
        wakeAll()
    }

    /// The futex word: it changes (and its waiters are woken) on every signal and failure.
    /// Read it before `isSettled` and wait while it holds what was read.
    var sequenceWord: UnsafeMutablePointer<UInt32> { word(at: Self.sequenceOffset, as: UInt32.self) }

    /// The futex word's current value.
    var sequence: UInt32 { cmagma_atomic_load_u32(sequenceWord) }

    private func wakeAll() {
        _ = cmagma_atomic_add_u32(sequenceWord, 1)
        _ = cmagma_futex_wake_all(sequenceWord)
    }

    private func load32(_ offset: Int) -> UInt32 { cmagma_atomic_load_u32(word(at: offset, as: UInt32.self)) }

    private func word<T>(at offset: Int, as type: T.Type) -> UnsafeMutablePointer<T> {
        (memory.base + offset).assumingMemoryBound(to: T.self)
    }
}
