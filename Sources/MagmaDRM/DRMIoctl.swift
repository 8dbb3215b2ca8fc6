import CMagmaDRM
import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// ioctl(2) on a DRM node or a dma-buf with libdrm's policy (drmIoctl): called again while it
/// fails with EINTR or EAGAIN (a driver asking to be called again). Returns 0, or the errno of
/// the failure, read as the call returned (`SystemCall`). `descriptor` is borrowed.
public func drmIoctl(_ descriptor: FileDescriptor, _ request: UInt, _ argument: UnsafeMutableRawPointer) -> Int32 {
    do throws(PlatformError) {
        try SystemCall.retrying("ioctl", alsoRetrying: .resourceTemporarilyUnavailable) { cmagma_ioctl(descriptor.rawValue, request, argument) }
        return 0
    } catch {
        return error.code
    }
}

/// A system call of the DRM backend (open, fstat, eventfd, mmap's neighbours) through
/// `SystemCall.retrying`, its failure the error every DRM call gives (`MagmaError.drm`), named
/// `call` and about `detail` (both built only on failure).
@discardableResult
func drmSystemCall<Result: FixedWidthInteger & SignedInteger>(
    _ call: @autoclosure () -> String, _ detail: @autoclosure () -> String = "", _ body: () -> Result
) throws(MagmaError) -> Result {
    do throws(PlatformError) {
        return try SystemCall.retrying(call(), body)
    } catch {
        throw .drm(error.call, errno: error.code, detail())
    }
}
