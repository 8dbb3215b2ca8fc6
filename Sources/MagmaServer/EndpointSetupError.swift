import Glibc
import MagmaPlatform
import MagmaProtocol

extension MagmaError {
    /// magmad could not create a directory of its runtime directory: ACCESS_DENIED for a
    /// permission (or a read-only file system), INVALID_ARGS for a path that cannot be a
    /// directory, with the errno.
    static func creatingDirectory(_ path: String, errno code: Int32) -> MagmaError {
        let reason = "cannot create the directory \(path)"
        switch code {
        case EACCES, EPERM, EROFS:
            return setup(.accessDenied, "\(reason): permission denied; choose another with --directory or MAGMA_DEVICE_DIR", code)
        case ENOENT:
            return setup(.invalidArgs, "\(reason): the directory above it does not exist", code)
        case ENOTDIR, EEXIST, ENAMETOOLONG, ELOOP:
            return setup(.invalidArgs, "\(reason): it, or a directory above it, is not a directory", code)
        default:
            return setup(.internalError, reason, code)
        }
    }

    /// magmad could not listen at `path`: ACCESS_DENIED for a permission, BAD_STATE when the
    /// address is in use by something it must not replace, INVALID_ARGS for a path too long for
    /// a socket, with the errno.
    static func listening(at path: String, _ failure: PlatformError) -> MagmaError {
        let reason = "cannot listen on \(path)"
        switch failure.code {
        case EACCES, EPERM, EROFS:
            return setup(.accessDenied, "\(reason): permission denied; choose another directory with --directory or MAGMA_DEVICE_DIR",
                         failure.code)
        case EADDRINUSE:
            return setup(.badState, "\(reason): address in use: something that is not a socket is there; remove it or choose another --device-name",
                         failure.code)
        case ENAMETOOLONG:
            let limit = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1
            return setup(.invalidArgs, "\(reason): path too long: \(path.utf8.count) bytes, a Unix socket path holds at most \(limit); choose a shorter --directory",
                         failure.code)
        default:
            return setup(.internalError, "\(reason): \(failure.call) failed", failure.code)
        }
    }

    private static func setup(_ status: MagmaStatus, _ message: String, _ code: Int32) -> MagmaError {
        MagmaError(status, "\(message) (\(String(cString: strerror(code))), errno \(code))", systemErrorCode: code)
    }
}
