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
    /// `syncCapabilities` once found.
    let knownSyncCapabilities = Locked<SyncCapabilities?>(nil)

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

    /// Creates a queue of work in `space` (a context of its connection) of queue family
    /// `family` (an index into `physicalDevice.queueFamilies`; by default the first family with
    /// compute) with `priority`. A family the device does not have is INVALID_ARGS, thrown here
    /// with the address space still usable; more queues of a family in one address space than
    /// its `count` is MEMORY_ERROR and closes the address space (the core's rule). Priorities
    /// above `.medium` need a trusted client (in-process, not through magmad). On a device with
    /// no queue families at all (a driver that runs no work here, such as a DRM device without
    /// a submitter) every queue is UNIMPLEMENTED, with the driver's name.
    public func createQueue(in space: AddressSpace, family: UInt32? = nil, priority: Priority = .medium) throws(MagmaError) -> Queue {
        try checkOpen()
        try checkOwns(space.device, "address space")
        guard !physicalDevice.queueFamilies.isEmpty else {
            throw .unimplemented("queues on \(physicalDevice.name): the device has no queue families, its driver \(physicalDevice.info.driverName) runs no work here")
        }
        let index = if let family { family } else { try defaultQueueFamily() }
        _ = try physicalDevice.info.queueFamily(index)
        return Queue(addressSpace: space, context: try space.connection.createContext(queueFamily: index, priority: priority))
    }

    /// The first queue family with compute; INVALID_ARGS if the device has none.
    func defaultQueueFamily() throws(MagmaError) -> UInt32 {
        guard let index = physicalDevice.queueFamilies.firstIndex(where: { $0.flags.contains(.compute) }) else {
            throw .invalidArgs("the device has no queue family with compute")
        }
        return UInt32(index)
    }

    /// The address spaces the device created that are still open.
    var openAddressSpaces: [AddressSpace] {
        spaces.withLock { $0.compactMap(\.space) }.filter { !$0.connection.isClosed }
    }

    // MARK: Buffers and memory

    /// Creates a zeroed buffer of at least `size` bytes (rounded up to whole pages) of memory
    /// type `memoryTypeIndex` (an index into `physicalDevice.memoryProperties.types`). An
    /// unknown type is INVALID_ARGS; an allocation past the type's heap budget MEMORY_ERROR;
    /// both thrown here with the device still usable. A buffer of a type without
    /// `hostVisible` cannot be mapped for the CPU (`mapCPU()` throws INVALID_ARGS).
    public func createBuffer(size: UInt64, memoryTypeIndex: UInt32 = 0, name: String = "") throws(MagmaError) -> DeviceBuffer {
        try checkOpen()
        let buffer = try home.createBuffer(size: size, memoryType: memoryTypeIndex, name: name)
        return DeviceBuffer(device: self, home: buffer, memoryTypeIndex: memoryTypeIndex)
    }

    /// Imports a buffer another device (of this process or another) exported, as memory of
    /// type `memoryTypeIndex`; takes ownership of `descriptor`. Anything but a buffer of the
    /// backend's export kind is INVALID_ARGS; the type's errors are `createBuffer`'s.
    public func importBuffer(_ descriptor: OwnedFileDescriptor, memoryTypeIndex: UInt32 = 0) throws(MagmaError) -> DeviceBuffer {
        try checkOpen()
        let buffer = try home.importBuffer(descriptor, memoryType: memoryTypeIndex)
        return DeviceBuffer(device: self, home: buffer, memoryTypeIndex: memoryTypeIndex)
    }

    /// Heap `heap` as this device sees it (VK_EXT_memory_budget's meaning): `usage` counts the
    /// device's buffers in its home connection plus their imports into its open address spaces
    /// (the core counts each import as an allocation of its own, so a buffer used in two
    /// address spaces counts three times); `budget` is that usage plus what the heap has free,
    /// device-wide. A heap index out of range is INVALID_ARGS.
    public func memoryBudget(heap: UInt32) throws(MagmaError) -> MemoryBudget {
        try checkOpen()
        let homeBudget = try home.memoryBudget(heap: heap)
        var usage = homeBudget.usage
        var free = homeBudget.budget - homeBudget.usage
        for space in openAddressSpaces {
            // An address space that failed or closed meanwhile holds nothing any more.
            guard let budget = try? space.connection.memoryBudget(heap: heap) else { continue }
            usage += budget.usage
            free = min(free, budget.budget - budget.usage)
        }
        return MemoryBudget(budget: usage + free, usage: usage)
    }

    // MARK: Sync objects

    /// Creates a sync object of `kind`: an unsignaled binary one, or a timeline whose value
    /// starts at `initialValue`.
    public func createSyncObject(_ kind: SyncObjectKind = .binary) throws(MagmaError) -> SyncObject {
        try checkOpen()
        switch kind {
        case .binary: return SyncObject(device: self, primitive: .binary(try home.createSemaphore()), kind: .binary)
        case .timeline(let initialValue):
            return SyncObject(device: self, primitive: .timeline(try home.createTimelineSemaphore(initialValue: initialValue)), kind: kind)
        }
    }

    /// Imports a sync object another device exported (`SyncObject.export()`) as an opaque
    /// descriptor; takes ownership of `descriptor`. It shares its state with the exported one.
    /// With `kind` nil the kind is read from the descriptor: a sealed memfd (the embedded and
    /// magmad backends' timeline page, virtio's timeline share token) is a timeline, anything
    /// else is taken as binary (an eventfd, virtio's included, or a DRM syncobj's descriptor,
    /// which does not tell its kind: name
    /// `.timeline` to import a DRM timeline). A named
    /// `.timeline`'s initial value is not used: the import has the exported timeline's value
    /// (its `kind` reports the value at import). Anything but a sync object of that kind, of
    /// the backend's export kind, is INVALID_ARGS.
    public func importSyncObject(_ descriptor: OwnedFileDescriptor, kind: SyncObjectKind? = nil) throws(MagmaError) -> SyncObject {
        try checkOpen()
        let kind = kind ?? SyncObjectKind.detect(descriptor)
        switch kind {
        case .binary: return SyncObject(device: self, primitive: .binary(try home.importSemaphore(descriptor)), kind: .binary)
        case .timeline:
            let timeline = try home.importTimelineSemaphore(descriptor)
            return SyncObject(device: self, primitive: .timeline(timeline), kind: .timeline(initialValue: timeline.value))
        }
    }
}

/// An address space a device created, held weakly (the device releases the live ones with it).
private struct WeakAddressSpace {
    weak var space: AddressSpace?
}
