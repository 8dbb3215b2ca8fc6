import Magma
import MagmaPlatform
import MagmaProtocol

extension PhysicalDevice {
    /// Every physical device here (Mesa's `magma_enumerate_devices`), in the order
    /// `DeviceLocator.availableNames(in:)` lists them: magmad's endpoints in `directory`, the
    /// machine's DRM render nodes, then the embedded device. A name that cannot be opened or
    /// answer its identity now (an endpoint whose magmad has exited, a render node this user
    /// may not open) is left out, as a Vulkan loader leaves out a driver that fails to load.
    public static func enumerate(in directory: String = RuntimeDirectory.current) -> [PhysicalDevice] {
        DeviceLocator.availableNames(in: directory).compactMap { name in
            try? PhysicalDevice(device: Device.open(.named(name, in: directory)), name: name)
        }
    }

    /// The physical device of the device named `name` (as `DeviceLocator.named(_:in:)` takes
    /// it); its errors are thrown.
    public static func named(_ name: String, in directory: String = RuntimeDirectory.current) throws(MagmaError) -> PhysicalDevice {
        try PhysicalDevice(device: Device.open(.named(name, in: directory)), name: name)
    }
}
