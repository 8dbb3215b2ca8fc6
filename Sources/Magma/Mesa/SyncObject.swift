import MagmaPlatform
import MagmaProtocol

/// The kinds of sync object a device makes.
public enum SyncObjectKind: Hashable, Sendable {
    /// Signaled or not: signal, reset, wait; a queue's wait consumes the signal (resets it).
    case binary
    /// A 64-bit value that only grows, starting at `initialValue`: the CPU and queues signal
    /// points (raise the value) and wait for points (until the value reaches them).
    case timeline(initialValue: UInt64)

    /// Whether it is a timeline.
    public var isTimeline: Bool {
        if case .timeline = self { true } else { false }
    }
}

/// A point of a sync object, for a submission's waits and signals and for CPU waits: a
/// timeline's value, or 0 for a binary sync object (its one state).
public struct SyncObjectPoint: Sendable {
    /// The sync object.
    public var syncObject: SyncObject
    /// The point: reached once a timeline's value is at or above it; 0 for a binary one.
    public var value: UInt64

    /// Point `value` of `syncObject` (0, the default, for a binary one).
    public init(_ syncObject: SyncObject, _ value: UInt64 = 0) {
        self.syncObject = syncObject
        self.value = value
    }
}

/// A sync object of a logical device (Mesa's `MagmaSyncObj`): a signal the CPU and the GPU
/// set and wait for, usable by the queues of every address space of its device, and
/// exportable to other devices and processes as an opaque descriptor.
///
/// A binary sync object is the Fuchsia face's `Semaphore`, a timeline one the core's
/// `TimelineSemaphore`: one in the device's home connection, imported (sharing its state) into
/// each address space whose queues use it. Calls for the other kind (`signal(to:)` on a binary
/// one, `reset()` on a timeline) are INVALID_ARGS.
public final class SyncObject: Sendable {
    /// The device that created or imported it.
    public let device: LogicalDevice
    /// The core object in the device's home connection.
    let primitive: SyncPrimitive
    /// Its imports into address spaces' connections.
    let instances = InstanceTable<SyncInstance>(kind: "sync object")
    /// What kind it is: for a timeline, the value it was created with (or had when imported).
    public let kind: SyncObjectKind

    init(device: LogicalDevice, primitive: SyncPrimitive, kind: SyncObjectKind) {
        self.device = device
        self.primitive = primitive
        self.kind = kind
    }

    /// This object's point `value` (0 for a binary one).
    public func point(_ value: UInt64 = 0) -> SyncObjectPoint { SyncObjectPoint(self, value) }

    /// The core object standing for it in `space`'s connection, imported on first use there.
    func instance(in space: AddressSpace) throws(MagmaError) -> SyncPrimitive {
        try instances.instance(in: space, make: { () throws(MagmaError) -> SyncInstance in
            switch primitive {
            case .binary(let home): SyncInstance(.binary(try space.connection.importSemaphore(try home.export())))
            case .timeline(let home): SyncInstance(.timeline(try space.connection.importTimelineSemaphore(try home.export())))
            }
        }, discard: { try? $0.primitive.release(in: space.connection) }).primitive
    }

    // MARK: Binary sync objects

    /// Whether a binary sync object is signaled now. INVALID_ARGS once released or for a
    /// timeline.
    public func isSignaled() throws(MagmaError) -> Bool { try binary("isSignaled").isSignaled }

    /// Signals a binary sync object from the CPU. INVALID_ARGS for a timeline.
    public func signal() throws(MagmaError) { try binary("signal").signal() }

    /// Clears a binary sync object from the CPU. INVALID_ARGS for a timeline.
    public func reset() throws(MagmaError) { try binary("reset").reset() }

    /// Waits until a binary sync object is signaled, or `timeoutNanoseconds` passes
    /// (`UInt64.max` waits forever); does not reset it. TIMED_OUT when it stays unsignaled; the
    /// error of an address space that failed (CONTEXT_KILLED after a GPU fault) when a queue of
    /// one that uses it did: work that fails never signals, so the waiter learns it at once.
    /// INVALID_ARGS for a timeline.
    public func wait(timeoutNanoseconds: UInt64) throws(MagmaError) {
        _ = try binary("wait(timeoutNanoseconds:)")
        try Self.waitAll([point()], timeoutNanoseconds: timeoutNanoseconds)
    }

    /// A new sync_file of a binary sync object's current fence (a snapshot); the caller owns
    /// it. BAD_STATE while it holds no fence; UNIMPLEMENTED unless `syncCapabilities` has
    /// `.exportSyncFile`; INVALID_ARGS for a timeline or once released.
    public func exportSyncFile() throws(MagmaError) -> OwnedFileDescriptor { try binary("exportSyncFile()").exportSyncFile() }

    /// Replaces a binary sync object's fence with the sync_file's, for its device and every
    /// address space that uses it; `syncFile` stays the caller's. A descriptor that is no
    /// sync_file is INVALID_ARGS; UNIMPLEMENTED unless `syncCapabilities` has `.importSyncFile`;
    /// INVALID_ARGS for a timeline or once released.
    public func importSyncFile(_ syncFile: OwnedFileDescriptor) throws(MagmaError) {
        try device.home.importSyncFile(syncFile, into: try binary("importSyncFile(_:)"))
    }

    private func binary(_ call: String) throws(MagmaError) -> Semaphore {
        try instances.checkLive()
        guard case .binary(let home) = primitive else { throw .invalidArgs("\(call) is for binary sync objects; this one is a timeline") }
        return home
    }

    // MARK: Timeline sync objects

    /// A timeline's value now: the last point signaled. INVALID_ARGS for a binary one.
    public func value() throws(MagmaError) -> UInt64 { try timeline("value()").value }

    /// Raises a timeline's value to `point` from the CPU, waking the waiters for points up to
    /// it. A point not above the value is INVALID_ARGS and changes nothing; so is a binary one.
    public func signal(to point: UInt64) throws(MagmaError) { try timeline("signal(to:)").signal(to: point) }

    /// Waits until a timeline's value reaches `point`, or `timeoutNanoseconds` passes: as
    /// `wait(timeoutNanoseconds:)`, and also CONTEXT_KILLED once work that was to signal it
    /// failed. INVALID_ARGS for a binary one.
    public func wait(for point: UInt64, timeoutNanoseconds: UInt64) throws(MagmaError) {
        _ = try timeline("wait(for:timeoutNanoseconds:)")
        try Self.waitAll([self.point(point)], timeoutNanoseconds: timeoutNanoseconds)
    }

    private func timeline(_ call: String) throws(MagmaError) -> TimelineSemaphore {
        try instances.checkLive()
        guard case .timeline(let home) = primitive else { throw .invalidArgs("\(call) is for timeline sync objects; this one is binary") }
        return home
    }

    // MARK: Sharing and lifetime

    /// A new descriptor for importing it into another device (`LogicalDevice.importSyncObject`)
    /// here or in another process: on the embedded and magmad backends an eventfd for a binary
    /// one, a sealed memfd page for a timeline. The caller owns it.
    public func export() throws(MagmaError) -> OwnedFileDescriptor {
        try instances.checkLive()
        switch primitive {
        case .binary(let home): return try home.export()
        case .timeline(let home): return try home.export()
        }
    }

    /// Releases it in its device and in every address space that used it. A second release is
    /// INVALID_ARGS.
    public func release() throws(MagmaError) {
        for (space, instance) in try instances.release() { try? instance.primitive.release(in: space.connection) }
        try primitive.release(in: device.home)
    }

    /// Throws INVALID_ARGS unless `value` is a point of this object (0 for a binary one), or
    /// once it was released.
    func check(point value: UInt64) throws(MagmaError) {
        try instances.checkLive()
        if case .binary = primitive, value != 0 { throw .invalidArgs("point \(value) of a binary sync object (its only point is 0)") }
    }

    /// What a CPU wait for `value` waits for: the object in its device and in every address
    /// space that uses it, so the failure of any of those connections ends the wait (an
    /// address space released by its client is left out: its end is no failure).
    func waitPoints(_ value: UInt64) -> [SyncPoint] {
        let used = instances.instances.filter { !$0.space.connection.isClosed }.map(\.instance.primitive)
        return ([primitive] + used).map { $0.waitPoint(value) }
    }
}

/// The core object under a sync object, by kind.
enum SyncPrimitive: Sendable {
    /// A binary sync object: a semaphore.
    case binary(Semaphore)
    /// A timeline sync object: a timeline semaphore.
    case timeline(TimelineSemaphore)

    /// The core's wait point for point `value` of it.
    func waitPoint(_ value: UInt64) -> SyncPoint {
        switch self {
        case .binary(let semaphore): .semaphore(semaphore)
        case .timeline(let timeline): .timeline(timeline, value)
        }
    }

    /// Releases it in `connection`, which holds it.
    func release(in connection: Connection) throws(MagmaError) {
        switch self {
        case .binary(let semaphore): try connection.release(semaphore)
        case .timeline(let timeline): try connection.release(timeline)
        }
    }
}

/// A sync object's import into an address space's connection.
final class SyncInstance: Sendable {
    let primitive: SyncPrimitive

    init(_ primitive: SyncPrimitive) { self.primitive = primitive }
}
