import CMagmaDRM
import Glibc
import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// One open DRM node (`/dev/dri/renderD*` or `card*`): the kernel's object tables (GEM
/// handles, syncobjs) belong to this open file, so each connection has its own. Every ioctl
/// goes through `perform` (`drmIoctl`: EINTR and EAGAIN retried) and maps the errno to a `MagmaError`.
/// The descriptor closes when the last object that needs it (a connection, its buffers and
/// semaphores) is gone; the kernel then drops whatever handles are left.
public final class DRMFile: Sendable {
    /// The node's path.
    public let path: String
    /// The open node.
    public let descriptor: OwnedFileDescriptor

    /// Opens `path` read-write, close-on-exec. ENOENT is INVALID_ARGS (no such node), EACCES
    /// ACCESS_DENIED (the nodes are root- or video-group-only).
    public init(path: String) throws(MagmaError) {
        let fd = try drmSystemCall("open", path) { Glibc.open(path, O_RDWR | O_CLOEXEC) }
        self.path = path
        descriptor = OwnedFileDescriptor(taking: fd)
    }

    /// Runs ioctl `request` (named `call` in errors) on `argument`.
    public func perform<Argument>(_ request: UInt, _ call: String, _ argument: inout Argument, _ detail: @autoclosure () -> String = "") throws(MagmaError) {
        let code = withUnsafeMutablePointer(to: &argument) { drmIoctl(descriptor.fileDescriptor, request, $0) }
        guard code == 0 else { throw .drm(call, errno: code, detail()) }
    }

    // MARK: Identity

    /// DRM_IOCTL_VERSION: the driver's name, version, date and description (asked twice:
    /// lengths first, then the strings).
    public func version() throws(MagmaError) -> DRMDriverVersion {
        var sizes = cmagma_drm_version()
        try perform(cmagma_drm_ioctl_version, "DRM_IOCTL_VERSION", &sizes)
        var name = [CChar](repeating: 0, count: sizes.name_len + 1)
        var date = [CChar](repeating: 0, count: sizes.date_len + 1)
        var description = [CChar](repeating: 0, count: sizes.desc_len + 1)
        var full = sizes
        let code = name.withUnsafeMutableBufferPointer { name in
            date.withUnsafeMutableBufferPointer { date in
                description.withUnsafeMutableBufferPointer { description in
                    full.name = name.baseAddress
                    full.date = date.baseAddress
                    full.desc = description.baseAddress
                    return drmIoctl(descriptor.fileDescriptor, cmagma_drm_ioctl_version, &full)
                }
            }
        }
        guard code == 0 else { throw .drm("DRM_IOCTL_VERSION", errno: code, path) }
        func text(_ bytes: [CChar], _ length: Int) -> String {
            String(decoding: bytes.prefix(min(length, bytes.count - 1)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return DRMDriverVersion(name: text(name, sizes.name_len), major: Int(full.major), minor: Int(full.minor), patchLevel: Int(full.patchlevel),
                                date: text(date, sizes.date_len), description: text(description, sizes.desc_len))
    }

    /// DRM_IOCTL_GET_CAP. A capability the driver does not report is UNIMPLEMENTED (EOPNOTSUPP)
    /// or INVALID_ARGS (EINVAL: unknown to the kernel).
    public func capability(_ id: UInt64) throws(MagmaError) -> UInt64 {
        var cap = cmagma_drm_get_cap(capability: id, value: 0)
        try perform(cmagma_drm_ioctl_get_cap, "DRM_IOCTL_GET_CAP", &cap, "capability \(id)")
        return cap.value
    }

    // MARK: GEM and PRIME

    /// DRM_IOCTL_GEM_CLOSE: drops this file's GEM handle (the object lives on while a dma-buf
    /// or a mapping references it). A handle that is not open is INVALID_ARGS (EINVAL).
    public func closeGEMHandle(_ handle: UInt32) throws(MagmaError) {
        var close = cmagma_drm_gem_close(handle: handle, pad: 0)
        try perform(cmagma_drm_ioctl_gem_close, "DRM_IOCTL_GEM_CLOSE", &close, "handle \(handle)")
    }

    /// DRM_IOCTL_PRIME_HANDLE_TO_FD: a new dma-buf (read-write, close-on-exec) for `handle`.
    public func exportDMABuf(_ handle: UInt32) throws(MagmaError) -> OwnedFileDescriptor {
        var prime = cmagma_drm_prime_handle(handle: handle, flags: cmagma_drm_prime_flags, fd: -1)
        try perform(cmagma_drm_ioctl_prime_handle_to_fd, "DRM_IOCTL_PRIME_HANDLE_TO_FD", &prime, "handle \(handle)")
        return OwnedFileDescriptor(taking: prime.fd)
    }

    /// DRM_IOCTL_PRIME_FD_TO_HANDLE: this file's GEM handle for a dma-buf. The kernel returns
    /// the same handle for every descriptor of an object this file already knows; GEM handles
    /// are not counted, so the caller counts them (`GEMHandleTable`). `descriptor` is borrowed.
    public func importDMABuf(_ descriptor: FileDescriptor) throws(MagmaError) -> UInt32 {
        var prime = cmagma_drm_prime_handle(handle: 0, flags: 0, fd: descriptor.rawValue)
        try perform(cmagma_drm_ioctl_prime_fd_to_handle, "DRM_IOCTL_PRIME_FD_TO_HANDLE", &prime, "descriptor \(descriptor.rawValue)")
        return prime.handle
    }

    /// Maps `size` bytes of this file at the fake `offset` a MAP_DUMB or VIRTGPU_MAP returned.
    public func map(offset: UInt64, size: Int) throws(MagmaError) -> UnsafeMutableRawBufferPointer {
        try DMABuf.map(descriptor.rawValue, offset: offset, size: size, what: path)
    }
}

/// What DRM_IOCTL_VERSION reports.
public struct DRMDriverVersion: Sendable, Equatable {
    /// The driver's name: "vgem", "virtio_gpu", "i915", "amdgpu", ...
    public let name: String
    /// The driver's version.
    public let major: Int, minor: Int, patchLevel: Int
    /// The driver's date string (often "0" or a yyyymmdd date).
    public let date: String
    /// The driver's description.
    public let description: String

    /// "major.minor.patchlevel".
    public var versionString: String { "\(major).\(minor).\(patchLevel)" }
}
