import MagmaPlatform
import MagmaProtocol

extension PhysicalDeviceInfo {
    /// What the system layer's test drivers report: one host-visible memory type on one heap
    /// far larger than any test allocates, and one queue family.
    static let testDriver = PhysicalDeviceInfo(
        vendorId: 0xFFFF, deviceId: 1, driverVersion: 1 << 16, name: "test driver", driverName: "test",
        limits: DeviceLimits(addressSpaceSize: 1 << 48, pageSize: UInt64(SharedMemory.pageSize), maxAllocationSize: 1 << 40),
        memoryProperties: MemoryProperties(types: [MemoryType(propertyFlags: [.hostVisible, .hostCoherent], heapIndex: 0)],
                                           heaps: [MemoryHeap(size: 1 << 40, flags: [])]),
        queueFamilies: [QueueFamily(flags: [.compute, .transfer], count: 1024)])
}
