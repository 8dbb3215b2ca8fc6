import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaWire

/// A Magma device reached through virtio-gpu's Magma context type, over the socket emulation
/// at `path` (`DeviceLocator.virtio`). Each connection is one open of the virtio-gpu device: a
/// context of the process's one guest at `path` (`VirtioGuests`: one socket, one guest RAM of
/// 64 MiB that the process's connections share; `VirtioConnection`); the physical device's
/// description is the capset's first device.
public final class VirtioDeviceBackend: DeviceBackend {
    /// The socket of the host's device model.
    public let path: String
    /// Whether its guest's device offers CONTEXT_INIT; without it every fence of the guest is on
    /// one timeline, as in a guest kernel behind QEMU's vhost-user-gpu (docs/virtio.md).
    public let offersContextInit: Bool
    private let info: PhysicalDeviceInfo

    /// Opens the device once, as a guest of its own, to read its capset. `contextInit: false`
    /// runs every connection as a guest whose device has no CONTEXT_INIT.
    public init(path: String, contextInit: Bool = true) throws(MagmaError) {
        self.path = path
        offersContextInit = contextInit
        let probe = try VirtGPUSocketDevice(path: path, memoryBytes: SharedMemory.pageSize, contextInit: contextInit)
        defer { probe.close() }
        guard try probe.parameter(.supportedCapsetIds) & (1 << UInt64(VirtioGPU.magmaCapsetId)) != 0 else {
            throw .unimplemented("the virtio-gpu device has no Magma capset (7)")
        }
        let capset: VirtioMagmaCapset
        do { capset = try VirtioMagmaCapset(decoding: try probe.capset(id: VirtioGPU.magmaCapsetId, version: VirtioMagmaCapset.version)) } catch {
            throw .internalError("Magma capset: \(error)")
        }
        guard let first = capset.devices.first else { throw .unimplemented("the Magma capset offers no device") }
        info = first
    }

    public func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer {
        let connection = try VirtioConnection(path: path, info: info, contextInit: offersContextInit)
        defer { connection.close() }
        return .value(try connection.calls.valueCall { .query(.init(queryId: id, reply: $0)) })
    }

    public func connect() throws(MagmaError) -> any ConnectionBackend {
        try VirtioConnection(path: path, info: info, contextInit: offersContextInit)
    }

    public func performanceCounterToken() throws(MagmaError) -> OwnedFileDescriptor {
        throw .unimplemented("performance counters are not offered over virtio")
    }

    public func physicalDeviceInfo() throws(MagmaError) -> PhysicalDeviceInfo { info }
}
