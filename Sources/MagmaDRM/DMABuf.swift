import CMagmaDRM
import Glibc
import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// Calls on dma-buf descriptors (any exporter's): size, mmap, and the CPU-access bracket.
public enum DMABuf {
    /// The dma-buf's size (`SharedMemory.dmaBufSize`), with the kernel's error mapped as every
    /// DRM call's is. `descriptor` is borrowed.
    public static func size(of descriptor: FileDescriptor) throws(MagmaError) -> UInt64 {
        do throws(PlatformError) { return try SharedMemory.dmaBufSize(descriptor) } catch {
            throw .drm("lseek(dma-buf)", errno: error.code, "descriptor \(descriptor.rawValue)")
        }
    }

    /// mmap(MAP_SHARED, read-write) of `size` bytes of `descriptor` at `offset`.
    static func map(_ descriptor: Int32, offset: UInt64, size: Int, what: String) throws(MagmaError) -> UnsafeMutableRawBufferPointer {
        guard let offset = off_t(exactly: offset) else { throw .invalidArgs("mmap offset \(offset) of \(what) out of range") }
        let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, offset)
        // mmap fails with MAP_FAILED, not -1, so SystemCall does not fit: errno is read first.
        guard let address, address != MAP_FAILED else { let code = errno; throw .drm("mmap", errno: code, what) }
        return UnsafeMutableRawBufferPointer(start: address, count: size)
    }

    /// What a CPU access through a dma-buf mapping does, for DMA_BUF_IOCTL_SYNC.
    public enum Access: Sendable {
        case read, write, readWrite
        var flags: UInt64 {
            switch self {
            case .read: cmagma_dma_buf_sync_read
            case .write: cmagma_dma_buf_sync_write
            case .readWrite: cmagma_dma_buf_sync_read | cmagma_dma_buf_sync_write
            }
        }
    }

    /// DMA_BUF_IOCTL_SYNC with SYNC_START (`ending` false) or SYNC_END for `access`: brackets
    /// CPU access so the exporter can flush or invalidate caches and wait for fences.
    /// `descriptor` (the dma-buf) is borrowed.
    public static func sync(_ descriptor: FileDescriptor, _ access: Access, ending: Bool) throws(MagmaError) {
        var sync = cmagma_dma_buf_sync(flags: access.flags | (ending ? cmagma_dma_buf_sync_end : cmagma_dma_buf_sync_start))
        let code = drmIoctl(descriptor, cmagma_dma_buf_ioctl_sync, &sync)
        guard code == 0 else { throw .drm("DMA_BUF_IOCTL_SYNC", errno: code, ending ? "end" : "start") }
    }

    /// DMA_BUF_IOCTL_EXPORT_SYNC_FILE (Linux 6.0): a sync_file of the dma-buf's implicit fences
    /// that `access` would wait for (writes for a read; all for a write). `descriptor` (the
    /// dma-buf) is borrowed; the caller owns the sync_file.
    public static func exportSyncFile(_ descriptor: FileDescriptor, _ access: Access) throws(MagmaError) -> OwnedFileDescriptor {
        var request = cmagma_dma_buf_sync_file(flags: UInt32(access.flags), fd: -1)
        let code = drmIoctl(descriptor, cmagma_dma_buf_ioctl_export_sync_file, &request)
        guard code == 0 else { throw .drm("DMA_BUF_IOCTL_EXPORT_SYNC_FILE", errno: code) }
        return OwnedFileDescriptor(taking: request.fd)
    }

    /// DMA_BUF_IOCTL_IMPORT_SYNC_FILE (Linux 6.0): adds a sync_file's fence to the dma-buf's
    /// implicit fences, as a write (`access` .write or .readWrite) or a read. Both descriptors
    /// are borrowed: the caller keeps the sync_file and the dma-buf.
    public static func importSyncFile(_ syncFile: FileDescriptor, into descriptor: FileDescriptor, _ access: Access) throws(MagmaError) {
        var request = cmagma_dma_buf_sync_file(flags: UInt32(access.flags), fd: syncFile.rawValue)
        let code = drmIoctl(descriptor, cmagma_dma_buf_ioctl_import_sync_file, &request)
        guard code == 0 else { throw .drm("DMA_BUF_IOCTL_IMPORT_SYNC_FILE", errno: code) }
    }
}
