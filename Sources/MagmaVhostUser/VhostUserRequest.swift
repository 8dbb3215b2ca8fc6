/// The front-end's requests this back-end understands (docs/interop/vhost-user.rst, "Front-end
/// message types"), by their numbers on the wire.
public enum VhostUserRequest: UInt32, Sendable, CaseIterable {
    case getFeatures = 1
    case setFeatures = 2
    case setOwner = 3
    case resetOwner = 4
    case setMemTable = 5
    case setVringNum = 8
    case setVringAddr = 9
    case setVringBase = 10
    case getVringBase = 11
    case setVringKick = 12
    case setVringCall = 13
    case setVringErr = 14
    case getProtocolFeatures = 15
    case setProtocolFeatures = 16
    case getQueueNum = 17
    case setVringEnable = 18
    case getConfig = 24
    case setConfig = 25
    case gpuSetSocket = 33
    case resetDevice = 34

    /// Whether the back-end answers it with a reply of its own (not only REPLY_ACK's).
    public var hasReply: Bool {
        switch self {
        case .getFeatures, .getProtocolFeatures, .getVringBase, .getQueueNum, .getConfig: true
        default: false
        }
    }
}

/// Feature bits of the virtio and vhost-user vocabularies this back-end uses.
public enum VhostUserFeature {
    /// VIRTIO_F_VERSION_1: a modern (little-endian) device.
    public static let version1: UInt64 = 1 << 32
    /// VHOST_USER_F_PROTOCOL_FEATURES: GET/SET_PROTOCOL_FEATURES and SET_VRING_ENABLE exist.
    public static let protocolFeatures: UInt64 = 1 << 30
    /// VIRTIO_RING_F_INDIRECT_DESC: descriptors may point at tables of descriptors.
    public static let indirectDescriptors: UInt64 = 1 << 28
    /// VIRTIO_RING_F_EVENT_IDX: the driver says at which used index it wants its next interrupt
    /// (used_event), the device at which available index it wants its next kick (avail_event).
    /// QEMU's vhost-user-gpu front-end offers it to the guest whatever the back-end offers.
    public static let eventIndex: UInt64 = 1 << 29
}

/// Protocol feature bits (VHOST_USER_PROTOCOL_F_*) this back-end offers.
public enum VhostUserProtocolFeature {
    /// MQ: GET_QUEUE_NUM answers how many queues the device has.
    public static let multipleQueues: UInt64 = 1 << 0
    /// REPLY_ACK: a request flagged NEED_REPLY is acknowledged with a status.
    public static let replyAck: UInt64 = 1 << 3
    /// CONFIG: GET_CONFIG / SET_CONFIG reach the device's config space.
    public static let config: UInt64 = 1 << 9
    /// RESET_DEVICE: RESET_DEVICE resets the device instead of RESET_OWNER.
    public static let resetDevice: UInt64 = 1 << 13
}
