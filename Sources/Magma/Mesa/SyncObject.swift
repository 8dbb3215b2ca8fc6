import MagmaPlatform
import MagmaProtocol

/// The kinds of sync object a device makes.
public enum SyncObjectKind: Hashable, Sendable {
    /// Signaled or not: signal, reset, wait; a queue's wait consumes the signal (resets it).
    case binary
}

/// A sync object of a logical device (Mesa's `MagmaSyncObj`): a signal the CPU and the GPU
/// set and wait for, usable by the queues of every address space of its device, and
/// exportable to other devices and processes as an opaque descriptor.
///
/// A binary sync object is the Fuchsia face's `Semaphore`: one in the device's home
/// connection, imported (sharing its state) into each address space whose queues use it.
public final class SyncObject: Sendable {
    /// The device that created or imported it.
    public let device: LogicalDevice
    /// The core object in the device's home connection.
    let primitive: SyncPrimitive
    /// Its imports into address spaces' connections.
    let instances = InstanceTable<Semaphore>(kind: "sync object")

    init(device: LogicalDevice, primitive: SyncPrimitive) {
        self.device = device
        self.primitive = primitive
    }

    /// What kind it is.
    public var kind: SyncObjectKind {
        switch primitive {
        case .binary: .binary
        }
    }

    /// The semaphore standing for it in `space`'s connection, imported on first use there.
    func semaphore(in space: AddressSpace) throws(MagmaError) -> Semaphore {
        switch primitive {
        case .binary(let home):
            try instances.instance(in: space, make: { () throws(MagmaError) -> Semaphore in
                try space.connection.importSemaphore(try home.export())
            }, discard: { try? space.connection.release($0) })
        }
    }

    /// Whether it is signaled now. INVALID_ARGS once released.
    public func isSignaled() throws(MagmaError) -> Bool {
        try instances.checkLive()
        switch primitive {
        case .binary(let home): return home.isSignaled
        }
    }

    /// Signals it from the CPU.
    public func signal() throws(MagmaError) {
        try instances.checkLive()
        switch primitive {
        case .binary(let home): home.signal()
        }
    }

    /// Clears it from the CPU.
    public func reset() throws(MagmaError) {
        try instances.checkLive()
        switch primitive {
        case .binary(let home): home.reset()
        }
    }

    /// Waits until it is signaled, or `timeoutNanoseconds` passes (`UInt64.max` waits
    /// forever); does not reset it. TIMED_OUT when it stays unsignaled; the error of an address
    /// space that failed (CONTEXT_KILLED after a GPU fault) when a queue of one that uses it
    /// did: work that fails never signals, so the waiter learns it at once.
    public func wait(timeoutNanoseconds: UInt64) throws(MagmaError) {
        try Self.waitAll([self], timeoutNanoseconds: timeoutNanoseconds)
    }

    /// A new descriptor for importing it into another device (`LogicalDevice.importSyncObject`)
    /// here or in another process: an eventfd on the embedded and magmad backends. The caller
    /// owns it.
    public func export() throws(MagmaError) -> OwnedFileDescriptor {
        try instances.checkLive()
        switch primitive {
        case .binary(let home): return try home.export()
        }
    }

    /// Releases it in its device and in every address space that used it. A second release is
    /// INVALID_ARGS.
    public func release() throws(MagmaError) {
        for (space, instance) in try instances.release() { try? space.connection.release(instance) }
        switch primitive {
        case .binary(let home): try device.home.release(home)
        }
    }

    /// What a wait polls: the object in its device and in every address space that uses it,
    /// so the failure of any of those connections ends the wait (an address space released by
    /// its client is left out: its end is no failure).
    var pollItems: [PollItem] {
        let used = instances.instances.filter { !$0.space.connection.isClosed }
        switch primitive {
        case .binary(let home): return [.semaphore(home)] + used.map { .semaphore($0.instance) }
        }
    }
}

/// The core object under a sync object, by kind.
enum SyncPrimitive: Sendable {
    /// A binary sync object: a semaphore of the device's home connection.
    case binary(Semaphore)
}
