import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol

extension MagmaError {
    /// Why connecting to the device endpoint at `path` failed, said so that a user can act on
    /// it, with the status that fits and the errno: nothing there and a socket nobody listens
    /// on are CONNECTION_LOST (no server), a path that cannot be an endpoint INVALID_ARGS, a
    /// permission ACCESS_DENIED.
    static func openingDevice(at path: String, _ failure: PlatformError) -> MagmaError {
        let code = failure.code
        func error(_ status: MagmaStatus, _ what: String) -> MagmaError {
            MagmaError(status, "cannot open the Magma device \(path): \(what) (\(String(cString: strerror(code))), errno \(code))",
                       systemErrorCode: code)
        }
        switch code {
        case ENOENT:
            return error(.connectionLost, "nothing is there; is magmad running? It prints where it listens when it starts")
        case EACCES, EPERM:
            return error(.accessDenied, "permission denied: opening an endpoint needs write permission on it and search permission on its directories")
        case ENAMETOOLONG:
            return error(.invalidArgs, "the path is too long for a Unix socket (at most \(MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1) bytes)")
        case ENOTDIR:
            return error(.invalidArgs, "a component of the path is not a directory")
        case ECONNREFUSED, EPROTOTYPE:
            var info = stat()
            let type = stat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
            switch type {
            case S_IFSOCK where code == ECONNREFUSED:
                return error(.connectionLost, "it is a socket nobody listens on (left by a magmad that died? starting magmad replaces it)")
            case S_IFSOCK:
                return error(.invalidArgs, "it is a socket of another kind, not a magmad endpoint (SOCK_SEQPACKET)")
            case S_IFREG:
                return error(.invalidArgs, "it is a regular file, not a magmad endpoint (a socket)")
            case S_IFDIR:
                return error(.invalidArgs, "it is a directory; an endpoint is a socket in \(RuntimeDirectory.devices)/ below the runtime directory")
            default:
                return error(.connectionLost, "it is not a listening socket")
            }
        default:
            return error(.connectionLost, "\(failure.call) failed")
        }
    }
}
