import Glibc
import MagmaProtocol

extension MagmaError {
    /// The status a failed DRM call maps to, from the kernel's errno; one table for the whole
    /// backend (docs/drm.md):
    /// ENOENT, EINVAL, EBADF -> INVALID_ARGS (a bad handle, flag or descriptor);
    /// ENOMEM, ENOSPC -> MEMORY_ERROR; EACCES, EPERM -> ACCESS_DENIED;
    /// ETIME, ETIMEDOUT -> TIMED_OUT; EOPNOTSUPP, ENOTTY, ENOSYS, ENODEV -> UNIMPLEMENTED (the
    /// driver lacks the feature: an ioctl it does not have, or virtio_gpu refusing a foreign
    /// dma-buf); EBUSY -> BAD_STATE; anything else INTERNAL_ERROR.
    public static func drmStatus(forErrno code: Int32) -> MagmaStatus {
        switch code {
        case ENOENT, EINVAL, EBADF: .invalidArgs
        case ENOMEM, ENOSPC: .memoryError
        case EACCES, EPERM: .accessDenied
        case ETIME, ETIMEDOUT: .timedOut
        case EOPNOTSUPP, ENOTTY, ENOSYS, ENODEV: .unimplemented
        case EBUSY: .badState
        default: .internalError
        }
    }

    /// The error of a failed DRM call: its status from `drmStatus(forErrno:)`, and a message
    /// naming the call, the errno's symbol and text, and what it was about.
    public static func drm(_ call: String, errno code: Int32, _ detail: String = "") -> MagmaError {
        let about = detail.isEmpty ? "" : " (\(detail))"
        return MagmaError(drmStatus(forErrno: code), "\(call)\(about): \(errnoName(code)) \(String(cString: strerror(code)))",
                          systemErrorCode: code)
    }

    /// The symbol of the errno values DRM calls return, for messages.
    static func errnoName(_ code: Int32) -> String {
        switch code {
        case ENOENT: "ENOENT"
        case EINVAL: "EINVAL"
        case EBADF: "EBADF"
        case ENOMEM: "ENOMEM"
        case ENOSPC: "ENOSPC"
        case EACCES: "EACCES"
        case EPERM: "EPERM"
        case ETIME: "ETIME"
        case ETIMEDOUT: "ETIMEDOUT"
        case EOPNOTSUPP: "EOPNOTSUPP"
        case ENOTTY: "ENOTTY"
        case ENOSYS: "ENOSYS"
        case ENODEV: "ENODEV"
        case EBUSY: "EBUSY"
        default: "errno \(code)"
        }
    }
}
