import MagmaProtocol

/// A GPU as Mesa's Magma API enumerates it (`MagmaPhysicalDevice`): its info, and the logical
/// devices made on it. `PhysicalDevice.enumerate` (MagmaDevices) finds every one there is.
///
/// It is the Fuchsia face's `Device`: a logical device is a connection of that device for its
/// buffers and sync objects, plus one more connection per address space.
public final class PhysicalDevice: Sendable {
    /// The opened device under it.
    public let device: Device
    /// The name it was found by (the locator name: `embedded`, a magmad endpoint's path,
    /// `drm/renderD128`).
    public let name: String
    /// What it is and offers (ids, name, driver, limits, memory types and heaps, queue
    /// families), read once when it was made: it does not change.
    public let info: PhysicalDeviceInfo

    /// The physical device of an opened device, found by `name`; reads its info.
    public init(device: Device, name: String) throws(MagmaError) {
        self.device = device
        self.name = name
        info = try device.physicalDeviceInfo()
    }

    /// Its memory types (a buffer names one by index) and heaps.
    public var memoryProperties: MemoryProperties { info.memoryProperties }

    /// Its queue families (a queue names one by index).
    public var queueFamilies: [QueueFamily] { info.queueFamilies }

    /// Creates a logical device (Mesa's `create_device`): a connection of its own to the
    /// device, which holds the buffers and sync objects it makes.
    public func createDevice() throws(MagmaError) -> LogicalDevice {
        try LogicalDevice(physicalDevice: self)
    }
}
