import MagmaPlatform
import MagmaProtocol

/// What several connections of one client (a process, a user, or everyone) hold together:
/// descriptors and bytes of imported memory, against shared limits. Each connection charges
/// what it holds as it grows and gives it back as it shrinks or closes; a connection whose
/// charge would pass a limit is closed with MEMORY_ERROR, and the client's other connections
/// go on. A charge is also made to the account's parent (a process's user, a user's server),
/// and fails if any account on the way would pass its limit.
public final class ResourceAccount: Sendable {
    /// The limits of one account.
    public struct Limits: Sendable, Equatable {
        /// Descriptors held (buffers, semaphores, performance-counter pool channels).
        public var maxDescriptors: Int
        /// Bytes of distinct buffer memory imported: the most client memory the GPU can fault
        /// in on the daemon's behalf.
        public var maxImportedBytes: UInt64
        /// Daemon memory held by submitted work not yet completed.
        public var maxPendingBytes: UInt64

        /// Creates limits; see each property.
        public init(maxDescriptors: Int, maxImportedBytes: UInt64, maxPendingBytes: UInt64 = .max) {
            self.maxDescriptors = maxDescriptors
            self.maxImportedBytes = maxImportedBytes
            self.maxPendingBytes = maxPendingBytes
        }
    }

    /// What is held.
    public struct Usage: Sendable, Equatable {
        /// Descriptors.
        public var descriptors = 0
        /// Bytes of imported memory.
        public var importedBytes: UInt64 = 0
        /// Bytes of daemon memory pending work holds.
        public var pendingBytes: UInt64 = 0

        /// A usage; nothing held by default.
        public init(descriptors: Int = 0, importedBytes: UInt64 = 0, pendingBytes: UInt64 = 0) {
            self.descriptors = descriptors
            self.importedBytes = importedBytes
            self.pendingBytes = pendingBytes
        }
    }

    /// The limits charges are held to.
    public let limits: Limits
    /// The account every charge is also made to.
    public let parent: ResourceAccount?
    /// Who the account is for, in messages ("the client", "uid 1000").
    public let holder: String
    private let usage = Locked(Usage())

    /// An empty account for `holder` whose charges are also made to `parent`.
    public init(limits: Limits, holder: String = "the client", parent: ResourceAccount? = nil) {
        self.limits = limits
        self.holder = holder
        self.parent = parent
    }

    /// What is held now.
    public var held: Usage { usage.withLock { $0 } }

    /// Changes what one holder holds from `old` to `new`: growth is charged (MEMORY_ERROR, and
    /// nothing charged, if it passes a limit), shrinking is given back.
    public func move(from old: Usage, to new: Usage) throws(MagmaError) {
        try usage.withLock { usage throws(MagmaError) in
            let descriptors = usage.descriptors - old.descriptors + new.descriptors
            let bytes = usage.importedBytes + new.importedBytes - old.importedBytes
            let pending = usage.pendingBytes + new.pendingBytes - old.pendingBytes
            if new.descriptors > old.descriptors, descriptors > limits.maxDescriptors {
                throw .memoryError("\(holder) holds \(descriptors - new.descriptors + old.descriptors) descriptors; \(limits.maxDescriptors) is the limit")
            }
            if new.importedBytes > old.importedBytes, bytes > limits.maxImportedBytes {
                throw .memoryError("\(holder) would import \(bytes) bytes; \(limits.maxImportedBytes) is the limit")
            }
            if new.pendingBytes > old.pendingBytes, pending > limits.maxPendingBytes {
                throw .memoryError("\(holder)'s pending work would hold \(pending) bytes; \(limits.maxPendingBytes) is the limit")
            }
            try parent?.move(from: old, to: new)   // child before parent: locks are always taken in that order
            usage = Usage(descriptors: descriptors, importedBytes: bytes, pendingBytes: pending)
        }
    }
}
