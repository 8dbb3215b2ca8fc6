import Magma
import MagmaDRM
import MagmaPlatform

extension DeviceLocator {
    /// The name clients and magmad share for the in-process device (`MAGMA_DEVICE_PATH_EMBEDDED`).
    public static let embeddedName = "embedded"
    /// The prefix of a virtio device's name: `virtio:<socket path>`.
    public static let virtioPrefix = "virtio:"
    /// The prefix of a guest kernel's virtio_gpu render node served as a Magma device:
    /// `virtgpu:<render node>` (`virtgpu:/dev/dri/renderD128`).
    public static let virtgpuPrefix = "virtgpu:"

    /// The device a user names, as `magmactl --device` and `magma_device_open` take it:
    /// `embedded` is the embedded device; anything else is a magmad endpoint found by
    /// `RuntimeDirectory.endpoint(named:in:)` in `directory` (by default this process's runtime
    /// directory: `$MAGMA_DEVICE_DIR`, else `$XDG_RUNTIME_DIR/magma`, else `/tmp/magma-<uid>`,
    /// the rule magmad serves by). So `magmad` is the running magmad's device, `gpu/000` a path
    /// relative to the runtime directory, and `/path/to/gpu/000` that path. `drm/<node>` is the
    /// Linux DRM render node `/dev/dri/<node>` (`drm/renderD128`). `virtio:<path>` is the
    /// virtio-gpu device model whose socket emulation listens at `<path>`; `virtgpu:<node>` the
    /// Magma device behind a guest kernel's virtio_gpu render node (`virtgpu:/dev/dri/renderD128`).
    public static func named(_ name: String, in directory: String = RuntimeDirectory.current) -> DeviceLocator {
        if name == embeddedName { return .embedded }
        if name.hasPrefix(virtioPrefix) { return .virtio(String(name.dropFirst(virtioPrefix.count))) }
        if name.hasPrefix(virtgpuPrefix) { return .virtgpu(String(name.dropFirst(virtgpuPrefix.count))) }
        if let renderNode = DRMDevices.nodePath(forLocatorName: name) { return .drm(renderNode) }
        return .socket(RuntimeDirectory.endpoint(named: name, in: directory))
    }
}
