import MagmaDRM
import MagmaPlatform

extension DeviceLocator {
    /// Every device name `named(_:in:)` can open here, as `magma_enumerate_devices` and
    /// `magmactl devices` list them: magmad's endpoints in `directory`, then the machine's DRM
    /// render nodes ("drm/renderD128", ...), then `embedded`, always last.
    public static func availableNames(in directory: String = RuntimeDirectory.current) -> [String] {
        RuntimeDirectory.deviceEndpoints(in: directory) + DRMDevices.locatorNames() + [embeddedName]
    }
}
