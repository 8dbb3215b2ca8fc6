import Magma
import MagmaDRM
import MagmaEmbedded
import MagmaPlatform
import MagmaProtocol
import MagmaSocket
import MagmaVirtio
import MagmaSystem
import SoftGPU

/// Where a device is: the one place that picks a backend, shared by `libmagma.so`, `magmactl`
/// and Swift programs.
public enum DeviceLocator: Sendable {
    /// The process-wide embedded device: MagmaSystem and SoftGPU in this process
    /// (MagmaEmbedded). Needs nothing installed and no daemon. Every `open(.embedded)` reaches
    /// the same device, as every process on a machine reaches the same GPU.
    case embedded
    /// A new in-process device served by `driver` (MagmaEmbedded; for tests and custom drivers).
    case inProcess(any MsdDriver)
    /// A device served by magmad, reached through its endpoint socket (MagmaSocket; for example
    /// `$XDG_RUNTIME_DIR/magma/gpu/000`).
    case socket(String)
    /// A Linux DRM device, by its render node ("/dev/dri/renderD128"; MagmaDRM, docs/drm.md).
    case drm(String)
    /// A device reached through virtio-gpu's Magma context type, over the socket emulation of
    /// a device model at this path (`magma-virtio-host --socket`; MagmaVirtio, docs/virtio.md).
    case virtio(String)
    /// A device reached through virtio-gpu's Magma context type on a guest kernel's virtio_gpu
    /// render node ("/dev/dri/renderD128": a guest whose virtio-gpu is the Magma device, as QEMU's
    /// vhost-user-gpu on `magma-vhost-user-gpu`; MagmaVirtio's `VirtGPUKernelDevice`).
    case virtgpu(String)
    /// A device served by a backend of the caller's.
    case backend(any DeviceBackend)
}

extension Device {
    private static let embeddedDevice = Locked<InProcessDeviceTransport?>(nil)

    /// Opens the device at `locator`.
    public static func open(_ locator: DeviceLocator) throws(MagmaError) -> Device {
        switch locator {
        case .embedded:
            return Device(backend: try embeddedDevice.withLock { (shared) throws(MagmaError) -> InProcessDeviceTransport in
                if let existing = shared { return existing }
                let created = InProcessDeviceTransport(system: try SystemDevice(driver: SoftGPUDriver()))
                shared = created
                return created
            })
        case .inProcess(let driver):
            return Device(backend: InProcessDeviceTransport(system: try SystemDevice(driver: driver)))
        case .socket(let path):
            return Device(backend: try SocketDeviceTransport(path: path))
        case .drm(let renderNode):
            return Device(backend: try DRMDevice(renderNode: renderNode))
        case .virtio(let path):
            return Device(backend: try VirtioDeviceBackend(path: path))
        case .virtgpu(let renderNode):
            return Device(backend: try VirtioDeviceBackend(renderNode: renderNode))
        case .backend(let backend):
            return Device(backend: backend)
        }
    }
}
