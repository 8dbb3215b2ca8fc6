import MagmaProtocol

/// What a physical device says about itself: Mesa's `MagmaPhysicalDeviceInfo`, from the
/// queries the device answers today.
public struct PhysicalDeviceInfo: Hashable, Sendable {
    /// The name it was found by (the locator name: `embedded`, a magmad endpoint's path,
    /// `drm/renderD128`).
    public var name: String
    /// The vendor id (the `vendor-id` query: a PCI vendor id for hardware, SoftGPU's own
    /// 0x10F00 for SoftGPU); 0 for a device that has none (a DRM device not on PCI).
    public var vendorId: UInt64
    /// The device id (the `device-id` query); 0 for a device that has none.
    public var deviceId: UInt64

    /// Info with the given fields.
    public init(name: String, vendorId: UInt64, deviceId: UInt64) {
        self.name = name
        self.vendorId = vendorId
        self.deviceId = deviceId
    }
}

/// A GPU as Mesa's Magma API enumerates it (`MagmaPhysicalDevice`): its info, and the logical
/// devices made on it. `PhysicalDevice.enumerate` (MagmaDevices) finds every one there is.
///
/// It is the Fuchsia face's `Device`: a logical device is a connection of that device for its
/// buffers and sync objects, plus one more connection per address space.
public final class PhysicalDevice: Sendable {
    /// The opened device under it.
    public let device: Device
    /// Its name and ids, read once when it was made.
    public let info: PhysicalDeviceInfo

    /// The physical device of an opened device, found by `name`; asks the device for its
    /// vendor and device ids. A device without them (UNIMPLEMENTED) gets 0; other errors are
    /// thrown.
    public init(device: Device, name: String) throws(MagmaError) {
        self.device = device
        info = PhysicalDeviceInfo(name: name, vendorId: try Self.identity(.vendorId, of: device),
                                  deviceId: try Self.identity(.deviceId, of: device))
    }

    private static func identity(_ query: QueryId, of device: Device) throws(MagmaError) -> UInt64 {
        do { return try device.queryValue(query) } catch {
            guard error.status == .unimplemented else { throw error }
            return 0
        }
    }

    /// Creates a logical device (Mesa's `create_device`): a connection of its own to the
    /// device, which holds the buffers and sync objects it makes.
    public func createDevice() throws(MagmaError) -> LogicalDevice {
        try LogicalDevice(physicalDevice: self)
    }
}
