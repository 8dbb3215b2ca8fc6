import MagmaPlatform
import MagmaProtocol

/// A device of Mesa's Magma API (`MagmaDevice`): it creates address spaces, queues, buffers and
/// sync objects.
///
/// Over the Fuchsia face's core: the device is one connection of its physical device (its
/// *home*), which holds every buffer and sync object it makes or imports; each address space is
/// a connection of its own (a private GPU address space). A buffer or sync object is usable in
/// any address space of its device: it is imported into that address space's connection when
/// first used there (mapped, submitted as a command buffer, waited on or signaled by a queue
/// there), once, and released there with it. A buffer reaches only the address spaces it was
/// used in, so address spaces stay isolated.
public final class LogicalDevice: Sendable {
    /// The physical device it was made on.
    public let physicalDevice: PhysicalDevice
    /// The connection that holds the device's buffers and sync objects.
    let home: Connection
    private let spaces = Locked<[WeakAddressSpace]>([])

    init(physicalDevice: PhysicalDevice) throws(MagmaError) {
        self.physicalDevice = physicalDevice
        home = try physicalDevice.device.createConnection()
    }

    /// Throws unless the device is open: BAD_STATE after `release()`, or the home connection's
    /// error.
    func checkOpen() throws(MagmaError) { try home.checkOpen() }

    /// Throws INVALID_ARGS unless `object` (named `what` in the error) belongs to this device.
    func checkOwns(_ owner: LogicalDevice, _ what: String) throws(MagmaError) {
        guard owner === self else { throw .invalidArgs("\(what) belongs to another device") }
    }

    /// Closes the device: its home connection, with every buffer and sync object in it, and
    /// every address space it created (with their queues). Later calls on any of them throw.
    public func release() {
        for space in spaces.withLock({ $0.compactMap(\.space) }) { space.release() }
        home.release()
    }

    // MARK: Address spaces and queues

    /// Creates an address space: a private GPU address space (a connection of its own).
    public func createAddressSpace() throws(MagmaError) -> AddressSpace {
        try checkOpen()
        let space = AddressSpace(device: self, connection: try physicalDevice.device.createConnection())
        spaces.withLock { spaces in
            spaces.removeAll { $0.space == nil }
            spaces.append(WeakAddressSpace(space: space))
        }
        return space
    }

    /// Creates a queue of work in `space` (a context of its connection) with `priority`.
    /// Priorities above `.medium` need a trusted client (in-process, not through magmad).
    public func createQueue(in space: AddressSpace, priority: Priority = .medium) throws(MagmaError) -> Queue {
        try checkOpen()
        try checkOwns(space.device, "address space")
        return Queue(addressSpace: space, context: try space.connection.createContext(priority: priority))
    }

    // MARK: Buffers

    /// Creates a zeroed buffer of at least `size` bytes (rounded up to whole pages) of memory
    /// type `memoryTypeIndex` (an index into the device's memory types; SoftGPU's devices
    /// have one, 0, and INVALID_ARGS is thrown for others).
    public func createBuffer(size: UInt64, memoryTypeIndex: UInt32 = 0, name: String = "") throws(MagmaError) -> DeviceBuffer {
        try checkOpen()
        guard size > 0 else { throw .invalidArgs("buffer size 0") }
        let buffer = Buffer(backend: try home.backend.createBuffer(size: size, memoryType: memoryTypeIndex, name: name), owner: home.key)
        if !name.isEmpty { buffer.setName(name) }
        return DeviceBuffer(device: self, home: buffer, memoryTypeIndex: memoryTypeIndex)
    }

    /// Imports a buffer another device (of this process or another) exported; takes ownership
    /// of `descriptor`. Anything but a buffer of the backend's export kind is INVALID_ARGS.
    public func importBuffer(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> DeviceBuffer {
        DeviceBuffer(device: self, home: try home.importBuffer(descriptor), memoryTypeIndex: 0)
    }

    // MARK: Sync objects

    /// Creates an unsignaled sync object of `kind`.
    public func createSyncObject(_ kind: SyncObjectKind = .binary) throws(MagmaError) -> SyncObject {
        switch kind {
        case .binary: SyncObject(device: self, primitive: .binary(try home.createSemaphore()))
        }
    }

    /// Imports a sync object another device exported (`SyncObject.export()`) as an opaque
    /// descriptor; takes ownership of `descriptor`. It shares its state with the exported one.
    /// Anything but a sync object of the backend's export kind is INVALID_ARGS.
    public func importSyncObject(_ descriptor: OwnedFileDescriptor, kind: SyncObjectKind = .binary) throws(MagmaError) -> SyncObject {
        switch kind {
        case .binary: SyncObject(device: self, primitive: .binary(try home.importSemaphore(descriptor)))
        }
    }
}

/// An address space a device created, held weakly (the device releases the live ones with it).
private struct WeakAddressSpace {
    weak var space: AddressSpace?
}
