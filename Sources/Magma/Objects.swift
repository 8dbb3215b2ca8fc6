import MagmaPlatform
import MagmaProtocol
import Synchronization
import SystemPackage

/// Tracks that an object is released once, and only through the connection that owns it: the
/// one record of a client object's owner (the C API's handles map onto it).
struct Ownership: ~Copyable, Sendable {
    let owner: UInt64
    let kind: String
    let id: UInt64
    private let released = Atomic<Bool>(false)

    init(owner: UInt64, kind: String, id: UInt64) {
        self.owner = owner
        self.kind = kind
        self.id = id
    }

    var isReleased: Bool { released.load(ordering: .acquiring) }

    /// Whether `connection` owns the object (released or not).
    func isOwned(by connection: UInt64) -> Bool { connection == owner }

    /// Throws unless `connection` owns the object and it is not released.
    func check(_ connection: UInt64) throws(MagmaError) {
        guard connection == owner else { throw .invalidArgs("\(kind) \(id) belongs to another connection") }
        guard !isReleased else { throw .invalidArgs("\(kind) \(id) was already released") }
    }

    /// Marks released; throws if it already was (double release) or belongs elsewhere.
    func release(_ connection: UInt64) throws(MagmaError) {
        guard connection == owner else { throw .invalidArgs("\(kind) \(id) belongs to another connection") }
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else {
            throw .invalidArgs("\(kind) \(id) was already released")
        }
    }
}

/// A context: a queue of GPU work in a connection, with a scheduling priority.
public final class Context: Sendable {
    /// The context's id in its connection.
    public let id: UInt32
    /// Its scheduling priority.
    public let priority: Priority
    /// The index of its queue family in the device's `queueFamilies()`.
    public let queueFamily: UInt32
    let ownership: Ownership

    init(id: UInt32, priority: Priority, queueFamily: UInt32 = 0, owner: UInt64) {
        self.id = id
        self.priority = priority
        self.queueFamily = queueFamily
        ownership = Ownership(owner: owner, kind: "context", id: UInt64(id))
    }
}

/// A semaphore: a binary signal shared by the CPU and the GPU, exportable to other
/// connections and processes (as an eventfd on the Fuchsia-protocol backends).
public final class Semaphore: Sendable {
    /// The backend's semaphore.
    let backend: any BackendSemaphore
    let ownership: Ownership
    /// The connection it was created in or imported into, while that connection exists: a
    /// wait on the semaphore ends with the connection's error once it fails.
    weak let connection: Connection?

    init(backend: any BackendSemaphore, connection: Connection) {
        self.backend = backend
        self.connection = connection
        ownership = Ownership(owner: connection.key, kind: "semaphore", id: backend.id)
    }

    /// The semaphore's id in its connection.
    public var id: ObjectId { backend.id }
    /// Whether this is a one-shot import: GPU waits never reset it, and neither does `reset()`.
    public var isOneShot: Bool { backend.isOneShot }

    /// Signals the semaphore.
    public func signal() { backend.signal() }
    /// Clears the semaphore; ignored for a one-shot import (as on Fuchsia).
    public func reset() { backend.reset() }
    /// Whether it is signaled now.
    public var isSignaled: Bool { backend.isSignaled }

    /// A new descriptor for the semaphore, to import elsewhere. The caller owns it.
    public func export() throws(MagmaError) -> OwnedFileDescriptor { try backend.export() }

    /// A descriptor to poll on: readable while signaled. Owned by the semaphore (borrowed here:
    /// valid while it lives).
    public var pollDescriptor: FileDescriptor { backend.pollDescriptor }

    /// Whether `connection` created or imported it.
    package func isOwned(by connection: Connection) -> Bool { ownership.isOwned(by: connection.key) }
    /// Whether its connection released it.
    package var isReleased: Bool { ownership.isReleased }
}
