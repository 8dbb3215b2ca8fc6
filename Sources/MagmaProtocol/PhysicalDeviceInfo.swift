/// What a physical device is and offers: identity, limits, memory types and heaps, queue
/// families (the Mesa lineage's physical-device info, memory properties and queue-family
/// properties, in one value). The system driver defines it; every layer passes it on as is.
public struct PhysicalDeviceInfo: Hashable, Sendable {
    /// PCI vendor id, or a Khronos vendor id for devices without one.
    public var vendorId: UInt32
    /// Vendor-defined device id.
    public var deviceId: UInt32
    /// The driver's version, major << 16 | minor.
    public var driverVersion: UInt32
    /// The device's name, for people.
    public var name: String
    /// The driver's name.
    public var driverName: String
    /// Sizes the device imposes.
    public var limits: DeviceLimits
    /// Its memory types and heaps.
    public var memoryProperties: MemoryProperties
    /// Its queue families; a context names one by index.
    public var queueFamilies: [QueueFamily]
    /// Where it is attached. The socket protocol's device_info_reply carries no bus, so a
    /// device reached through magmad is `.unknown` (its driver is SoftGPU, which has none).
    public var bus: DeviceBus

    public init(vendorId: UInt32, deviceId: UInt32, driverVersion: UInt32, name: String, driverName: String,
                limits: DeviceLimits, memoryProperties: MemoryProperties, queueFamilies: [QueueFamily], bus: DeviceBus = .unknown) {
        self.vendorId = vendorId
        self.deviceId = deviceId
        self.driverVersion = driverVersion
        self.name = name
        self.driverName = driverName
        self.limits = limits
        self.memoryProperties = memoryProperties
        self.queueFamilies = queueFamilies
        self.bus = bus
    }

    /// The queue family at `index`; INVALID_ARGS if the device has none there.
    public func queueFamily(_ index: UInt32) throws(MagmaError) -> QueueFamily {
        guard Int(index) < queueFamilies.count else {
            throw .invalidArgs("queue family \(index): the device has \(queueFamilies.count)")
        }
        return queueFamilies[Int(index)]
    }
}

/// Sizes a device imposes on its clients.
public struct DeviceLimits: Hashable, Sendable {
    /// Bytes of GPU virtual address space per connection.
    public var addressSpaceSize: UInt64
    /// The GPU page size: mappings are aligned to it.
    public var pageSize: UInt64
    /// The largest buffer one allocation may make.
    public var maxAllocationSize: UInt64

    public init(addressSpaceSize: UInt64, pageSize: UInt64, maxAllocationSize: UInt64) {
        self.addressSpaceSize = addressSpaceSize
        self.pageSize = pageSize
        self.maxAllocationSize = maxAllocationSize
    }
}

/// A device's memory types (what a buffer's memory is) and heaps (where it counts), Vulkan's
/// shape: a buffer names a type by index, the type names its heap.
public struct MemoryProperties: Hashable, Sendable {
    /// The memory types.
    public var types: [MemoryType]
    /// The heaps the types name.
    public var heaps: [MemoryHeap]

    public init(types: [MemoryType], heaps: [MemoryHeap]) {
        self.types = types
        self.heaps = heaps
    }

    /// The memory type at `index`; INVALID_ARGS if the device has none there.
    public func memoryType(_ index: UInt32) throws(MagmaError) -> MemoryType {
        guard Int(index) < types.count else { throw .invalidArgs("memory type \(index): the device has \(types.count)") }
        return types[Int(index)]
    }

    /// INVALID_ARGS unless every type names a heap of these properties.
    public func validate() throws(MagmaError) {
        for (index, type) in types.enumerated() where Int(type.heapIndex) >= heaps.count {
            throw .invalidArgs("memory type \(index) names heap \(type.heapIndex) of \(heaps.count)")
        }
    }
}

/// A heap's budget as one connection sees it (Vulkan's VK_EXT_memory_budget).
public struct MemoryBudget: Hashable, Sendable {
    /// Bytes the connection may hold in the heap now: its usage plus what the heap has free,
    /// device-wide.
    public var budget: UInt64
    /// Bytes of the heap the connection's buffers hold.
    public var usage: UInt64

    public init(budget: UInt64, usage: UInt64) {
        self.budget = budget
        self.usage = usage
    }
}
