import CMagmaLinux
import Glibc
import SystemPackage

/// CPU-visible memory backed by a sealed memfd (or, imported on request, a kernel driver's
/// dma-buf, or in this process a view of a guest's pages) and mapped shared into this process.
///
/// A memfd's size is sealed (`F_SEAL_SHRINK | F_SEAL_GROW`) before anyone but the creator sees
/// the descriptor, so no peer can truncate it and turn a GPU or CPU access into SIGBUS. A
/// dma-buf's size is fixed by the kernel for its whole life. `base` stays valid until this
/// object is released.
public final class SharedMemory: @unchecked Sendable {
    /// What backs the memory.
    public enum Kind: Sendable, Equatable {
        /// A size-sealed memfd: pages are committed and decommitted on demand.
        case memfd
        /// A dma-buf exported by a kernel driver (PRIME): its pages are the exporter's, always
        /// resident; COMMIT and DECOMMIT do not apply.
        case dmaBuf
        /// A mapping of a guest's pages that its owner made in this process (MagmaGuestMemory's
        /// `GuestPages`): no one descriptor holds it, so it cannot be exported or sent to another
        /// process; the pages are the guest's, always resident; COMMIT and DECOMMIT do not apply.
        case guestPages
    }

    /// The memfd or dma-buf. Duplicate it to hand the memory to another process or connection.
    /// Nil for `.guestPages`: no descriptor holds that memory.
    public let descriptor: OwnedFileDescriptor?
    /// What backs the memory.
    public let kind: Kind
    /// Size in bytes; a multiple of the page size.
    public let size: Int
    /// Start of this process's shared mapping of the whole memory.
    public let base: UnsafeMutableRawPointer
    /// Identifies the underlying memory object: equal for two descriptors of the same memfd,
    /// and for two adoptions of the same guest-pages mapping. Asked for rarely (a buffer id
    /// imported again, a performance-counter token), so a descriptor's is found when asked (an
    /// fstat) rather than at creation, which then makes no system call for it. An fstat of a
    /// descriptor this object holds open does not fail; if it did, the identity is this object's
    /// own (equal to nothing else), never another's.
    public var identity: MemoryIdentity {
        if let ownerIdentity { return ownerIdentity }
        guard let descriptor, let file = try? FileIdentity(of: descriptor.fileDescriptor) else { return .mapping(ObjectIdentifier(self)) }
        return .file(file)
    }
    /// An adopted mapping's identity: its owner's.
    private let ownerIdentity: MemoryIdentity?
    /// What keeps an adopted mapping alive (its owner unmaps it); nil for memory this object
    /// mapped itself.
    private let owner: (any Sendable)?

    private init(descriptor: OwnedFileDescriptor, size: Int, kind: Kind = .memfd) throws(PlatformError) {
        let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor.rawValue, 0)
        guard let mapped, mapped != MAP_FAILED else { throw PlatformError(call: "mmap", errno: Errno(rawValue: errno)) }
        ownerIdentity = nil
        self.descriptor = descriptor
        self.kind = kind
        self.size = size
        self.base = mapped
        owner = nil
    }

    private init(adopting base: UnsafeMutableRawPointer, size: Int, owner: AnyObject & Sendable) {
        self.base = base
        self.size = size
        self.owner = owner
        descriptor = nil
        kind = .guestPages
        ownerIdentity = .mapping(ObjectIdentifier(owner))
    }

    deinit { if owner == nil { munmap(base, size) } }

    /// Guest pages already mapped in this process, as buffer memory (`kind` `.guestPages`):
    /// `size` bytes (whole pages, > 0) at `base`, a mapping `owner` made and unmaps when it is
    /// released. The memory holds `owner`, so the mapping lives as long as any holder of the
    /// memory (a GPU mapping of it included). Size 0 or not whole pages is EINVAL.
    public static func adopting(mapping base: UnsafeMutableRawPointer, size: Int, heldBy owner: AnyObject & Sendable) throws(PlatformError) -> SharedMemory {
        guard size > 0, size % pageSize == 0, Int(bitPattern: base) % pageSize == 0 else {
            throw PlatformError(call: "adopted mapping of \(size) bytes (whole pages needed)", errno: .invalidArgument)
        }
        return SharedMemory(adopting: base, size: size, owner: owner)
    }

    /// The system page size.
    public static let pageSize: Int = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Rounds `bytes` up to a whole number of pages; nil on overflow.
    public static func pageAligned(_ bytes: UInt64) -> UInt64? {
        let mask = UInt64(pageSize - 1)
        let (sum, overflow) = bytes.addingReportingOverflow(mask)
        return overflow ? nil : sum & ~mask
    }

    /// Whether `bytes` is a whole number of pages (zero included).
    public static func isPageAligned(_ bytes: UInt64) -> Bool { bytes % UInt64(pageSize) == 0 }

    /// Creates zeroed memory of at least `size` bytes (rounded up to pages, at least one page).
    public static func create(size requested: Int, name: String = "magma-buffer") throws(PlatformError) -> SharedMemory {
        guard let rounded = pageAligned(UInt64(max(requested, 1))), rounded <= UInt64(Int.max) else {
            throw PlatformError(call: "memfd size", errno: .invalidArgument)
        }
        let memfd = UniqueFileDescriptor(taking: try SystemCall.once("memfd_create") { cmagma_memfd_create(name) })
        try SystemCall.retrying("ftruncate") { ftruncate(memfd.rawValue, off_t(rounded)) }
        try SystemCall.once("fcntl(F_ADD_SEALS)") { cmagma_memfd_seal_size(memfd.rawValue) }
        return try SharedMemory(descriptor: OwnedFileDescriptor(memfd), size: Int(rounded))
    }

    /// Maps memory received from someone else. Only a memfd whose size is sealed is accepted:
    /// anything else (a pipe, a regular file, an unsealed memfd) is rejected with EINVAL.
    public static func importing(_ descriptor: OwnedFileDescriptor) throws(PlatformError) -> SharedMemory {
        guard isSizeSealedMemfd(descriptor.fileDescriptor) else { throw PlatformError(call: "not a size-sealed memfd", errno: .invalidArgument) }
        var info = stat()
        try SystemCall.once("fstat") { fstat(descriptor.rawValue, &info) }
        let size = Int(info.st_size)
        guard size > 0, size % pageSize == 0 else { throw PlatformError(call: "memfd size", errno: .invalidArgument) }
        return try SharedMemory(descriptor: descriptor, size: size)
    }

    /// Whether `descriptor` (borrowed) is a memfd whose size is sealed (`F_SEAL_SHRINK |
    /// F_SEAL_GROW`): no holder can truncate it under a mapping.
    public static func isSizeSealedMemfd(_ descriptor: FileDescriptor) -> Bool {
        let seals = cmagma_memfd_get_seals(descriptor.rawValue)
        return seals >= 0 && seals & cmagma_seal_size_bits == cmagma_seal_size_bits
    }

    /// Whether `descriptor` (borrowed) is a memfd with seals (any).
    public static func isSealedMemfd(_ descriptor: FileDescriptor) -> Bool { cmagma_memfd_get_seals(descriptor.rawValue) > 0 }

    /// Whether `descriptor` (borrowed) is a dma-buf (its file lives on the kernel's dma-buf
    /// filesystem).
    public static func isDMABuf(_ descriptor: FileDescriptor) -> Bool {
        cmagma_file_system_type(descriptor.rawValue) == dmaBufMagic
    }

    /// DMA_BUF_MAGIC, the dma-buf filesystem's magic number (include/uapi/linux/magic.h).
    private static let dmaBufMagic: Int64 = 0x444d_4142

    /// Maps a dma-buf a kernel driver exported (PRIME) as buffer memory. The kernel fixes its
    /// size (read with lseek to the end), so it cannot shrink under a mapping. Anything that is
    /// not a dma-buf, or one of a size that is not whole pages, is rejected with EINVAL; an
    /// exporter that cannot mmap fails here, not on a later access.
    public static func importing(dmaBuf descriptor: OwnedFileDescriptor) throws(PlatformError) -> SharedMemory {
        guard isDMABuf(descriptor.fileDescriptor) else { throw PlatformError(call: "not a dma-buf", errno: .invalidArgument) }
        let end = try dmaBufSize(descriptor.fileDescriptor)
        guard end > 0, Int(end) % pageSize == 0 else { throw PlatformError(call: "dma-buf size \(end)", errno: .invalidArgument) }
        return try SharedMemory(descriptor: descriptor, size: Int(end), kind: .dmaBuf)
    }

    /// A dma-buf's size, which its exporter fixed (lseek to its end, which dma-bufs support).
    /// `descriptor` is borrowed.
    public static func dmaBufSize(_ descriptor: FileDescriptor) throws(PlatformError) -> UInt64 {
        UInt64(try SystemCall.once("lseek(dma-buf)") { lseek(descriptor.rawValue, 0, SEEK_END) })
    }
}

/// What memory is: a file (a memfd or a dma-buf, by its device and inode), or a mapping in this
/// process that its owner made (guest pages, by the owner object).
public enum MemoryIdentity: Hashable, Sendable {
    /// The file behind the memory's descriptor.
    case file(FileIdentity)
    /// The object that owns an adopted mapping.
    case mapping(ObjectIdentifier)
}

/// A file's device and inode numbers: the identity of the object behind a descriptor.
public struct FileIdentity: Hashable, Sendable {
    public let device: UInt64
    public let inode: UInt64

    /// The identity of the open file behind `descriptor` (fstat); the descriptor is borrowed.
    public init(of descriptor: FileDescriptor) throws(PlatformError) {
        var info = stat()
        try SystemCall.once("fstat") { fstat(descriptor.rawValue, &info) }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

extension SharedMemory {
    /// Allocates backing pages for a byte range (fallocate). The caller passes whole pages.
    public func commit(offset: Int, length: Int) throws(PlatformError) {
        guard kind == .memfd, let descriptor else { throw PlatformError(call: "commit of \(kind) memory", errno: .notSupported) }
        try SystemCall.retrying("fallocate") { cmagma_commit_range(descriptor.rawValue, Int64(offset), Int64(length)) }
    }

    /// Releases the backing pages of a byte range (fallocate PUNCH_HOLE); it reads back as
    /// zeros. The caller passes whole pages: a partial page would be zeroed but not released.
    public func decommit(offset: Int, length: Int) throws(PlatformError) {
        guard kind == .memfd, let descriptor else { throw PlatformError(call: "decommit of \(kind) memory", errno: .notSupported) }
        try SystemCall.retrying("fallocate(PUNCH_HOLE)") { cmagma_decommit_range(descriptor.rawValue, Int64(offset), Int64(length)) }
    }

    /// Faults a byte range in, writable (whole pages), so its pages are allocated and count for
    /// `committedBytes(offset:length:)`; what they held stays. Needs Linux 5.14.
    public func populate(offset: Int, length: Int) throws(PlatformError) {
        _ = try SystemCall.retrying("madvise(MADV_POPULATE_WRITE)", alsoRetrying: .resourceTemporarilyUnavailable) {
            cmagma_populate_write(base + offset, length)
        }
    }

    /// Bytes of a byte range that currently have backing pages (all of it for a dma-buf or
    /// guest pages: resident).
    public func committedBytes(offset: Int, length: Int) throws(PlatformError) -> Int {
        guard kind == .memfd, let descriptor else { return length }
        return Int(try SystemCall.retrying("lseek(SEEK_DATA)") { cmagma_committed_bytes_in_range(descriptor.rawValue, Int64(offset), Int64(length)) })
    }

    /// Bytes that currently have backing pages (all of a dma-buf or of guest pages: resident).
    public var committedBytes: Int {
        guard kind == .memfd, let descriptor else { return size }
        return max(0, Int(cmagma_committed_bytes(descriptor.rawValue)))
    }
}
