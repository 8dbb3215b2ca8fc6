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
    private let info: PhysicalDeviceInfo

    /// Opens the device once, as a guest of its own, to read its capset.
    public init(path: String) throws(MagmaError) {
        self.path = path
        let probe = try VirtGPUSocketDevice(path: path, memoryBytes: SharedMemory.pageSize)
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
        let connection = try VirtioConnection(path: path, info: info)
        defer { connection.close() }
        return .value(try connection.calls.valueCall { .query(.init(queryId: id, reply: $0)) })
    }

    public func connect() throws(MagmaError) -> any ConnectionBackend { try VirtioConnection(path: path, info: info) }

    public func performanceCounterToken() throws(MagmaError) -> OwnedFileDescriptor {
        throw .unimplemented("performance counters are not offered over virtio")
    }

    public func physicalDeviceInfo() throws(MagmaError) -> PhysicalDeviceInfo { info }
}
