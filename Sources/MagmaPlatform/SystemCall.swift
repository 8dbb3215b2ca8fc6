import Glibc
import SystemPackage

/// The one way this package makes a system call that fails with -1 and errno.
///
/// `errno` is read the instant the call returns, before anything else runs: the error's call
/// name (often interpolated, so it allocates, and an allocation may change errno) is built
/// only afterwards, and only on failure. EINTR (a signal arrived while the call slept) is
/// retried by `retrying`; a caller that owns a deadline or a loop of its own uses `once` and
/// looks at `.interrupted` itself. The C shims in CMagmaLinux and CMagmaDRM carry no retry
/// policy: they return what the call returned, with its errno.
public enum SystemCall {
    /// Runs `call` again while it fails with EINTR (or with `alsoRetrying`, for a driver that
    /// asks to be called again: DRM's EAGAIN); returns its result, or throws its errno with
    /// `name` (evaluated only on failure) as the call's name.
    @inlinable @discardableResult
    public static func retrying<Result: FixedWidthInteger & SignedInteger>(
        _ name: @autoclosure () -> String, alsoRetrying: Errno? = nil, _ call: () -> Result
    ) throws(PlatformError) -> Result {
        while true {
            let result = call()
            guard result == -1 else { return result }
            let code = Errno(rawValue: Glibc.errno)
            if code == .interrupted || code == alsoRetrying { continue }
            throw PlatformError(call: name(), errno: code)
        }
    }

    /// Runs `call` once; returns its result, or throws its errno (EINTR included) with `name`
    /// (evaluated only on failure) as the call's name.
    @inlinable @discardableResult
    public static func once<Result: FixedWidthInteger & SignedInteger>(
        _ name: @autoclosure () -> String, _ call: () -> Result
    ) throws(PlatformError) -> Result {
        let result = call()
        guard result == -1 else { return result }
        let code = Errno(rawValue: Glibc.errno)
        throw PlatformError(call: name(), errno: code)
    }
}

/// A failed system call, or a request refused before one: which call, and its errno.
public struct PlatformError: Error, Equatable, CustomStringConvertible {
    /// The call that failed, for messages.
    public let call: String
    /// The errno value, typed.
    public let errno: Errno

    /// A failure of `call` with `errno`. A system call's failure comes from `SystemCall`, which
    /// reads errno before anything can change it; this is for errors with a known code (a
    /// refused argument: `.invalidArgument`).
    public init(call: String, errno: Errno) {
        self.call = call
        self.errno = errno
    }

    /// The errno's raw value, for C callers and status mapping.
    public var code: Int32 { errno.rawValue }

    public var description: String { "\(call): \(String(cString: strerror(errno.rawValue)))" }
}
