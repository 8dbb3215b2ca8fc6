import MagmaProtocol

/// The Magma capset (id 7) a host's virtio-gpu device answers GET_CAPSET with: protocol
/// `virtio_capset`'s `capset` message, then one `device.device_info_reply` per physical device.
public struct VirtioMagmaCapset: Hashable, Sendable {
    /// The capset version this codec writes and reads (GET_CAPSET_INFO's max version).
    public static let version: UInt32 = 1
    /// The virtio_context protocol version the host speaks.
    public var protocolVersion: UInt32
    /// What the guest may do with semaphores.
    public var syncCapabilities: VirtioSyncCapabilities
    /// The largest SUBMIT_3D payload the host accepts.
    public var maxCommandBytes: UInt32
    /// The physical devices the host offers (a context uses the first).
    public var devices: [PhysicalDeviceInfo]

    public init(protocolVersion: UInt32, syncCapabilities: VirtioSyncCapabilities, maxCommandBytes: UInt32, devices: [PhysicalDeviceInfo]) {
        self.protocolVersion = protocolVersion
        self.syncCapabilities = syncCapabilities
        self.maxCommandBytes = maxCommandBytes
        self.devices = devices
    }

    /// The capset's bytes.
    public func encoded() throws(WireError) -> [UInt8] {
        let head = VirtioCapsetProtocol.Capset(protocolVersion: protocolVersion, deviceCount: UInt32(devices.count),
                                               syncCapabilities: syncCapabilities, maxCommandBytes: maxCommandBytes)
        var bytes = try head.encoded().bytes
        for device in devices { bytes += try DeviceProtocol.DeviceInfoReply(describing: device).encoded().bytes }
        return bytes
    }

    /// Reads a capset; anything malformed (a message cut short, a count the bytes do not hold,
    /// bytes left over) is a `WireError`.
    public init(decoding bytes: [UInt8]) throws(WireError) {
        var offset = 0
        func next() throws(WireError) -> [UInt8] {
            guard bytes.count - offset >= MessageHeader.byteCount else {
                throw .truncated(needed: offset + MessageHeader.byteCount, available: bytes.count)
            }
            let length = Int(WireBytes.load(UInt32.self, bytes, offset))
            guard length >= MessageHeader.byteCount, length <= bytes.count - offset else {
                throw .truncated(needed: offset + max(length, MessageHeader.byteCount), available: bytes.count)
            }
            defer { offset += length }
            return Array(bytes[offset..<(offset + length)])
        }
        guard case .capset(let head) = try VirtioCapsetProtocol.ServerMessage.decode(bytes: try next()).message else {
            throw .unknownOrdinal(WireBytes.load(UInt32.self, bytes, 4))
        }
        guard Int(head.deviceCount) <= (bytes.count - offset) / MessageHeader.byteCount else {
            throw .truncated(needed: offset + Int(head.deviceCount) * MessageHeader.byteCount, available: bytes.count)
        }
        var devices: [PhysicalDeviceInfo] = []
        for _ in 0..<head.deviceCount {
            let message = try DeviceProtocol.ServerMessage.decode(bytes: try next()).message
            guard case .deviceInfoReply(let reply) = message else { throw .unknownOrdinal(DeviceProtocol.QueryReply.ordinal) }
            devices.append(reply.physicalDeviceInfo)
        }
        guard offset == bytes.count else { throw .oversized(limit: offset, actual: bytes.count) }
        self.init(protocolVersion: head.protocolVersion, syncCapabilities: head.syncCapabilities,
                  maxCommandBytes: head.maxCommandBytes, devices: devices)
    }
}
