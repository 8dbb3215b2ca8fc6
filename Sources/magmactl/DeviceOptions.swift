import ArgumentParser
import MagmaDevices
import MagmaPlatform

/// `--device NAME`: which device a command uses.
struct DeviceOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The device: embedded, magmad (the running magmad), a path relative to the runtime directory (gpu/000), an absolute path, drm/renderD128 (a Linux DRM render node: magmactl devices lists them), virtio:<socket> (a magma-virtio-host device model), or virtgpu:/dev/dri/renderD128 (in a guest whose virtio-gpu is the Magma device).",
        discussion: "The runtime directory is $MAGMA_DEVICE_DIR, else $XDG_RUNTIME_DIR/magma, else /tmp/magma-<uid>: where magmad serves by default."))
    var device = DeviceLocator.embeddedName

    /// Opens the device and says what it is.
    func open() throws -> (device: Device, description: String) {
        let locator = DeviceLocator.named(device)
        let description = switch locator {
        case .socket(let path): "magmad at \(path)"
        case .drm(let renderNode): "Linux DRM device \(renderNode)"
        case .virtio(let path): "virtio-gpu device model at \(path) (socket emulation)"
        case .virtgpu(let node): "virtio-gpu Magma device behind the guest kernel's \(node)"
        default: "embedded (MagmaSystem + SoftGPU in this process)"
        }
        return (try Device.open(locator), description)
    }
}
