import Glibc
import SystemPackage

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
        try Self.duplicating(fileDescriptor)
    }

    /// A new descriptor for the same open file, close-on-exec, with one owner: for handing on
    /// (`release()` to a C caller who closes it).
    public func uniqueDuplicate() throws(PlatformError) -> UniqueFileDescriptor {
        try UniqueFileDescriptor.duplicating(fileDescriptor)
    }

    /// Duplicates a borrowed descriptor, which the caller keeps owning (for example one another
    /// object owns and lends).
    public static func duplicating(_ borrowed: FileDescriptor) throws(PlatformError) -> OwnedFileDescriptor {
        OwnedFileDescriptor(try UniqueFileDescriptor.duplicating(borrowed))
    }
}

extension Array where Element == OwnedFileDescriptor {
    /// The owned descriptor that `borrowed` is, if it is one of these (for example the
    /// descriptor a decoded message's handle names).
    public func owning(_ borrowed: FileDescriptor) -> OwnedFileDescriptor? { first { $0.fileDescriptor == borrowed } }
}

extension OwnedFileDescriptor {
    /// The descriptor as swift-system's `FileDescriptor`, for its typed operations; valid for
    /// the lifetime of this object, which still owns it.
    public var fileDescriptor: FileDescriptor { FileDescriptor(rawValue: rawValue) }

    /// Takes a uniquely owned descriptor to share it.
    public convenience init(_ unique: consuming UniqueFileDescriptor) {
        self.init(taking: unique.release())
    }
}

/// A descriptor with exactly one owner, not shared: closed when it goes out of scope unless it
/// is consumed first, into an `OwnedFileDescriptor` to share it or by `release()` to hand its
/// number to someone who will close it (a C caller). What a function opens is held as one of
/// these until it is ready to hand out, so an error on the way closes it with no code for it.
public struct UniqueFileDescriptor: ~Copyable, Sendable {
    /// The descriptor. Valid while this value lives.
    public let fileDescriptor: FileDescriptor

    /// Takes ownership of `rawValue`.
    public init(taking rawValue: Int32) {
        precondition(rawValue >= 0, "UniqueFileDescriptor needs an open descriptor")
        fileDescriptor = FileDescriptor(rawValue: rawValue)
    }

    /// The raw descriptor number.
    public var rawValue: Int32 { fileDescriptor.rawValue }

    /// A new descriptor (close-on-exec) of the open file `borrowed` names, which its owner keeps.
    public static func duplicating(_ borrowed: FileDescriptor) throws(PlatformError) -> UniqueFileDescriptor {
        UniqueFileDescriptor(taking: try SystemCall.retrying("fcntl(F_DUPFD_CLOEXEC)") { fcntl(borrowed.rawValue, F_DUPFD_CLOEXEC, 0) })
    }

    /// Gives up ownership: the caller now closes the returned descriptor.
    public consuming func release() -> Int32 {
        let rawValue = fileDescriptor.rawValue
        discard self
        return rawValue
    }

    deinit { _ = Glibc.close(fileDescriptor.rawValue) }
}
