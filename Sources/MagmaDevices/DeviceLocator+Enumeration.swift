import MagmaDRM
import MagmaPlatform
import MagmaVirtio
import MagmaWire

extension DeviceLocator {
    /// Every device name `named(_:in:)` can open here, as `magma_enumerate_devices` and
    /// `magmactl devices` list them: magmad's endpoints in `directory`, then the Magma devices
    /// behind a guest kernel's virtio_gpu render nodes (`virtgpu:/dev/dri/renderD128`, in a VM
    /// whose virtio-gpu serves the Magma capset), then the machine's DRM render nodes
    /// ("drm/renderD128", ...), then `embedded`, always last.
    public static func availableNames(in directory: String = RuntimeDirectory.current) -> [String] {
        RuntimeDirectory.deviceEndpoints(in: directory) + virtgpuNames() + DRMDevices.locatorNames() + [embeddedName]
    }

    /// `virtgpu:` names of the virtio_gpu render nodes whose device answers GET_CAPS of the
    /// Magma capset (7); a plain virtio-gpu (virgl, or none) answers EINVAL and is not listed.
    static func virtgpuNames() -> [String] {
        DRMDevices.all().filter { $0.driver.name == "virtio_gpu" }.compactMap { info -> String? in
            guard let device = try? VirtGPUKernelDevice(renderNode: info.renderNodePath) else { return nil }
            defer { device.close() }
            guard (try? device.capset(id: VirtioGPU.magmaCapsetId, version: VirtioMagmaCapset.version)) != nil else { return nil }
            return virtgpuPrefix + info.renderNodePath
        }
    }
}
