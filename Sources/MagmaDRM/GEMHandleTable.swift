import MagmaPlatform
import MagmaProtocol

/// Counts a file's references to each GEM handle. PRIME import returns the handle the file
/// already has for an object it knows (its own export, or a second import), and GEM handles
/// are not counted by the kernel, so closing one of two such buffers would pull the object
/// from under the other. Every buffer takes one reference; the last release closes the
/// handle, exactly once.
final class GEMHandleTable: Sendable {
    private let counts = Locked<[UInt32: Int]>([:])

    /// Takes a reference to `handle`.
    func retain(_ handle: UInt32) {
        counts.withLock { $0[handle, default: 0] += 1 }
    }

    /// Drops a reference; true when it was the last (the caller then closes the handle).
    func release(_ handle: UInt32) -> Bool {
        counts.withLock { counts in
            guard let count = counts[handle] else { return false }
            if count > 1 { counts[handle] = count - 1; return false }
            counts[handle] = nil
            return true
        }
    }

    /// Removes every handle and returns them (the connection closes them all).
    func removeAll() -> [UInt32] {
        counts.withLock { counts in
            defer { counts = [:] }
            return Array(counts.keys)
        }
    }
}
