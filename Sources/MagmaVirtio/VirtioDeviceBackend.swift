import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaWire

/// A Magma device reached through virtio-gpu's Magma context type: over the socket emulation
/// at `path` (`DeviceLocator.virtio`), or over a guest kernel's virtio_gpu render node
/// (`DeviceLocator.virtgpu`, `VirtGPUKernelDevice`). Over the socket, each connection is one
/// open of the virtio-gpu device: a context of the process's one guest at `path`
/// (`VirtioGuests`: one socket, one guest memory of 64 MiB that the process's connections share;
/// `VirtioConnection`); on the kernel's device each connection is one open of the render node.
/// The physical device's description is the capset's first device.
public final class VirtioDeviceBackend: DeviceBackend {
    /// The socket of the host's device model, or the render node.
    public let path: String
    /// Whether it is a guest kernel's render node rather than the socket emulation.
    public let isKernelDevice: Bool
    /// Whether its guest's device offers CONTEXT_INIT; without it every fence of the guest is on
    /// one timeline, as in a guest kernel behind QEMU's vhost-user-gpu (docs/virtio.md).
    public let offersContextInit: Bool
    private let info: PhysicalDeviceInfo

    /// Opens the device once, as a guest of its own, to read its capset. `contextInit: false`
    /// runs every connection as a guest whose device has no CONTEXT_INIT.
    public init(path: String, contextInit: Bool = true) throws(MagmaError) {
        self.path = path
        isKernelDevice = false
        offersContextInit = contextInit
        let probe = try VirtGPUSocketDevice(path: path, memoryBytes: SharedMemory.pageSize, contextInit: contextInit)
        defer { probe.close() }
        guard try probe.parameter(.supportedCapsetIds) & (1 << UInt64(VirtioGPU.magmaCapsetId)) != 0 else {
            throw .unimplemented("the virtio-gpu device has no Magma capset (7)")
        }
        info = try Self.firstDevice(probe)
    }

    /// The Magma device of a guest kernel's virtio_gpu render node: its capset read through the
    /// kernel (GET_CAPS of capset 7; UNIMPLEMENTED for a node of another driver).
    public init(renderNode: String) throws(MagmaError) {
        path = renderNode
        isKernelDevice = true
        let probe = try VirtGPUKernelDevice(renderNode: renderNode)
        defer { probe.close() }
        offersContextInit = probe.offersContextInit
        info = try Self.firstDevice(probe)
    }

    private static func firstDevice(_ probe: any VirtGPUDevice) throws(MagmaError) -> PhysicalDeviceInfo {
        let capset: VirtioMagmaCapset
        do { capset = try VirtioMagmaCapset(decoding: try probe.capset(id: VirtioGPU.magmaCapsetId, version: VirtioMagmaCapset.version)) } catch {
            throw .internalError("Magma capset: \(error)")
        }
        guard let first = capset.devices.first else { throw .unimplemented("the Magma capset offers no device") }
        return first
    }

    private func connection() throws(MagmaError) -> VirtioConnection {
        isKernelDevice ? try VirtioConnection(renderNode: path, info: info) : try VirtioConnection(path: path, info: info, contextInit: offersContextInit)
    }

    /// Asks the host device in a call of a connection of its own. A buffer answer's bytes are
    /// copied by the host into a resource of this guest (a page, or as large as the host said
    /// the buffer is when a page was too small); the answer is a buffer of this process holding
    /// them, the host device's buffer's size, as the device's own buffer would be.
    public func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer {
        let connection = try connection()
        defer { connection.close() }
        var areaBytes = SharedMemory.pageSize
        for _ in 0..<Self.queryAttempts {
            let area = try connection.device.createResource(size: areaBytes)
            defer { try? connection.device.release(area) }
            let answerArea = GuestReplyArea(resourceId: area.resourceId, offset: 0, length: UInt32(areaBytes))
            guard case .queryReply(let reply) = try connection.calls.call({ .query(.init(queryId: id, answerArea: answerArea, reply: $0)) }) else {
                throw .internalError("query: expected query_reply")
            }
            guard reply.status == .ok else { throw MagmaError(reply.status, "query \(id)") }
            guard reply.kind == .buffer else { return .value(reply.value) }
            guard reply.bufferSize <= UInt64(areaBytes) else {
                guard let larger = SharedMemory.pageAligned(reply.bufferSize), larger < UInt64(UInt32.max) else {
                    throw .memoryError("query \(id): a buffer answer of \(reply.bufferSize) bytes")
                }
                areaBytes = Int(larger)
                continue
            }
            return .buffer(try Self.buffer(copying: UnsafeRawBufferPointer(rebasing: area.mapping[..<Int(reply.bufferSize)]), query: id))
        }
        throw .internalError("query \(id): the buffer answer grew on each of \(Self.queryAttempts) attempts")
    }

    /// Tries of a buffer query whose answer outgrew the area asked with.
    private static let queryAttempts = 3

    private static func buffer(copying bytes: UnsafeRawBufferPointer, query id: QueryId) throws(MagmaError) -> SharedMemory {
        do {
            let memory = try SharedMemory.create(size: max(bytes.count, 1), name: "magma-query")
            if let source = bytes.baseAddress { memory.base.copyMemory(from: source, byteCount: bytes.count) }
            return memory
        } catch { throw MagmaError(.memoryError, "query \(id): its buffer: \(error)", systemErrorCode: error.code) }
    }

    public func connect() throws(MagmaError) -> any ConnectionBackend { try connection() }

    public func performanceCounterToken() throws(MagmaError) -> OwnedFileDescriptor {
        throw .unimplemented("performance counters are not offered over virtio")
    }

    public func physicalDeviceInfo() throws(MagmaError) -> PhysicalDeviceInfo { info }
}
