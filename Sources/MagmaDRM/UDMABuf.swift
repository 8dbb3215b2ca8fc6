import CMagmaDRM
import Glibc
import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// udmabuf (/dev/udmabuf, Linux 6.12 in the guest; absent on 6.1): turns memfd memory, such as an
/// embedded SoftGPU buffer's export, into a dma-buf a kernel driver can import (PRIME), so a
/// driver's buffer object uses memory SoftGPU work wrote.
public enum UDMABuf {
    /// The udmabuf device node.
    public static let devicePath = "/dev/udmabuf"

    /// A dma-buf of the whole of `memfd` (its size from fstat). The kernel requires a memfd
    /// sealed against shrinking and not against writing, of whole pages (Magma's buffers are);
    /// anything else is INVALID_ARGS with the kernel's errno. No /dev/udmabuf is UNIMPLEMENTED.
    public static func dmaBuf(ofMemfd memfd: OwnedFileDescriptor) throws(MagmaError) -> OwnedFileDescriptor {
        var info = stat()
        try drmSystemCall("fstat(memfd)") { fstat(memfd.rawValue, &info) }
        let device = try openDevice()
        let dmaBuf = try drmSystemCall("UDMABUF_CREATE", "memfd of \(info.st_size) bytes") {
            cmagma_udmabuf_create(device.rawValue, memfd.rawValue, 0, UInt64(info.st_size))
        }
        return OwnedFileDescriptor(taking: dmaBuf)
    }

    /// Opens /dev/udmabuf; its absence is UNIMPLEMENTED. (A function of its own: Swift 6.3
    /// reports "copy of noncopyable typed value. This is a compiler bug" for a `let` of a
    /// ~Copyable type initialized inside a `do` with a `catch`.)
    private static func openDevice() throws(MagmaError) -> UniqueFileDescriptor {
        do throws(PlatformError) {
            return UniqueFileDescriptor(taking: try SystemCall.retrying("open(\(devicePath))") { open(devicePath, O_RDWR | O_CLOEXEC) })
        } catch where error.errno == .noSuchFileOrDirectory {
            throw .unimplemented("no \(devicePath): this kernel has no udmabuf")
        } catch {
            throw .drm(error.call, errno: error.code)
        }
    }
}
