import MagmaProtocol

extension DeviceProtocol.DeviceInfoReply {
    /// The reply that describes `info` (status ok).
    public init(describing info: PhysicalDeviceInfo) {
        self.init(
            status: .ok, vendorId: info.vendorId, deviceId: info.deviceId, driverVersion: info.driverVersion, name: info.name,
            driverName: info.driverName, addressSpaceSize: info.limits.addressSpaceSize, pageSize: info.limits.pageSize,
            maxAllocationSize: info.limits.maxAllocationSize, memoryTypes: info.memoryProperties.types,
            memoryHeaps: info.memoryProperties.heaps, queueFamilies: info.queueFamilies)
    }

    /// The description the reply carries (its status is not looked at).
    public var physicalDeviceInfo: PhysicalDeviceInfo {
        PhysicalDeviceInfo(
            vendorId: vendorId, deviceId: deviceId, driverVersion: driverVersion, name: name, driverName: driverName,
            limits: DeviceLimits(addressSpaceSize: addressSpaceSize, pageSize: pageSize, maxAllocationSize: maxAllocationSize),
            memoryProperties: MemoryProperties(types: memoryTypes, heaps: memoryHeaps), queueFamilies: queueFamilies)
    }
}
