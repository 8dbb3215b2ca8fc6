import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol

extension DRMDevice {
    /// What MagmaDRM honestly knows of the device: the PCI ids (0 for a device without, such
    /// as vgem), the driver's name and version (major << 16 | minor), and the memory of its GEM
    /// buffers: one memory type, host-visible and coherent (the CPU maps it through the DRM
    /// file), on one heap the size of the host's physical memory (vgem and virtio_gpu buffers
    /// are system memory; the kernel has no generic budget query, so none is enforced here).
    /// No queue families (MagmaDRM submits no work without a per-driver `DRMSubmitter`) and no
    /// GPU address space (mapping is the driver's). The bus is sysfs's (`DRMDeviceInfo.bus`).
    public func physicalDeviceInfo() throws(MagmaError) -> PhysicalDeviceInfo {
        let physical = UInt64(max(0, sysconf(Int32(_SC_PHYS_PAGES)))) * UInt64(max(1, sysconf(Int32(_SC_PAGESIZE))))
        return PhysicalDeviceInfo(
            vendorId: UInt32(info.pci?.vendorId ?? 0), deviceId: UInt32(info.pci?.deviceId ?? 0),
            driverVersion: UInt32(truncatingIfNeeded: Int(info.driver.major) << 16 | Int(info.driver.minor & 0xFFFF)),
            name: info.locatorName, driverName: info.driver.name,
            limits: DeviceLimits(addressSpaceSize: 0, pageSize: UInt64(SharedMemory.pageSize), maxAllocationSize: physical),
            memoryProperties: MemoryProperties(types: [MemoryType(propertyFlags: [.hostVisible, .hostCoherent], heapIndex: 0)],
                                               heaps: [MemoryHeap(size: physical, flags: [])]),
            queueFamilies: [], bus: info.bus)
    }
}
