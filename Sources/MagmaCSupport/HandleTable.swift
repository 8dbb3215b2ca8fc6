import MagmaPlatform
import Synchronization

/// The next handle of any kind: handles are unique across tables, so a buffer handle passed as
/// a semaphore (or a device) is simply not found.
private let nextHandle = Atomic<UInt64>(1)

/// Maps the u64 handles of the C API to objects. Handles count up from 1 and are never reused,
/// so a released or made-up handle is simply not found.
public final class HandleTable<Object: AnyObject & Sendable>: Sendable {
    private let objects = Locked<[UInt64: Object]>([:])

    /// An empty table.
    public init() {}

    /// Adds `object` under a new handle, never 0 and never used before.
    public func insert(_ object: Object) -> UInt64 {
        let handle = nextHandle.add(1, ordering: .relaxed).oldValue
        objects.withLock { $0[handle] = object }
        return handle
    }

    /// The object behind `handle`, if it is in the table.
    public func get(_ handle: UInt64) -> Object? { objects.withLock { $0[handle] } }

    /// Takes the object behind `handle` out of the table.
    @discardableResult
    public func remove(_ handle: UInt64) -> Object? { objects.withLock { $0.removeValue(forKey: handle) } }

    /// Removes every object `matches` selects (a released connection's objects).
    public func removeAll(where matches: (Object) -> Bool) { objects.withLock { $0 = $0.filter { !matches($0.value) } } }

    /// Every object, for lookups by something other than the handle.
    public var all: [Object] { objects.withLock { Array($0.values) } }
}
