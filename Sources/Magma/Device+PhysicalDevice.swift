import MagmaProtocol

extension Device {
    /// What the physical device is and offers: vendor and device ids, name, driver, limits,
    /// memory types and heaps, queue families.
    public func physicalDeviceInfo() throws(MagmaError) -> PhysicalDeviceInfo {
        try backend.physicalDeviceInfo()
    }

    /// The device's memory types (a buffer names one by index) and heaps (where they count).
    public func memoryProperties() throws(MagmaError) -> MemoryProperties {
        try physicalDeviceInfo().memoryProperties
    }

    /// The device's queue families (a context names one by index).
    public func queueFamilies() throws(MagmaError) -> [QueueFamily] {
        try physicalDeviceInfo().queueFamilies
    }
}
