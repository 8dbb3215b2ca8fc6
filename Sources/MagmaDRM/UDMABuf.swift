import CMagmaDRM
import Glibc
import MagmaPlatform
import MagmaProtocol

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
        guard fstat(memfd.rawValue, &info) == 0 else { throw .drm("fstat(memfd)", errno: errno) }
        let device = open(devicePath, O_RDWR | O_CLOEXEC)
        guard device >= 0 else {
            let code = errno
            if code == ENOENT { throw .unimplemented("no \(devicePath): this kernel has no udmabuf") }
            throw .drm("open(\(devicePath))", errno: code)
        }
        defer { close(device) }
        let result = cmagma_udmabuf_create(device, memfd.rawValue, 0, UInt64(info.st_size))
        guard result >= 0 else { throw .drm("UDMABUF_CREATE", errno: -result, "memfd of \(info.st_size) bytes") }
        return OwnedFileDescriptor(taking: result)
    }
}
