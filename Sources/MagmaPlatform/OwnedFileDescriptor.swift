import Glibc

/// A file descriptor owned by exactly one object; closed when that object goes away.
///
/// A class rather than a `~Copyable` struct so it can live in object tables and be shared by
/// the objects that must keep it open (a buffer and its mappings, a semaphore and the batches
/// waiting on it).
public final class OwnedFileDescriptor: Sendable {
    /// The raw descriptor number. Valid for the lifetime of this object.
    public let rawValue: Int32

    /// Takes ownership of `rawValue`; it will be closed when this object is released.
    public init(taking rawValue: Int32) {
        precondition(rawValue >= 0, "OwnedFileDescriptor needs an open descriptor")
        self.rawValue = rawValue
    }

    deinit { _ = Glibc.close(rawValue) }

    /// A new descriptor for the same open file, close-on-exec.
    public func duplicate() throws(PlatformError) -> OwnedFileDescriptor {
        let copy = fcntl(rawValue, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw PlatformError(call: "fcntl(F_DUPFD_CLOEXEC)") }
        return OwnedFileDescriptor(taking: copy)
    }

    /// Duplicates a descriptor the caller keeps owning (for example one passed in from C).
    public static func duplicating(_ rawValue: Int32) throws(PlatformError) -> OwnedFileDescriptor {
        let copy = fcntl(rawValue, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw PlatformError(call: "fcntl(F_DUPFD_CLOEXEC)") }
        return OwnedFileDescriptor(taking: copy)
    }
}

/// A failed system call: which call, and the errno it left.
public struct PlatformError: Error, Equatable, CustomStringConvertible {
    /// The call that failed, for messages.
    public let call: String
    /// The errno value.
    public let code: Int32

    /// Captures the current errno for `call`.
    public init(call: String, code: Int32 = errno) {
        self.call = call
        self.code = code
    }

    public var description: String { "\(call): \(String(cString: strerror(code)))" }
}

extension Array where Element == OwnedFileDescriptor {
    /// The owned descriptor whose number is `rawValue`, if it is one of these (for example the
    /// descriptor a decoded message's handle names).
    public func owning(_ rawValue: Int32) -> OwnedFileDescriptor? { first { $0.rawValue == rawValue } }
}
