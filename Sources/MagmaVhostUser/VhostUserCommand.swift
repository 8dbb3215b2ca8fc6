import MagmaPlatform

/// One region of a SET_MEM_TABLE: guest physical range, the front-end's own (user) address of
/// it, and where in its descriptor it starts.
public struct VhostUserMemoryRegion: Sendable, Equatable {
    public var guestAddress: UInt64
    public var size: UInt64
    /// The front-end's virtual address of the region (what SET_VRING_ADDR's addresses are in).
    public var userAddress: UInt64
    public var mmapOffset: UInt64

    public init(guestAddress: UInt64, size: UInt64, userAddress: UInt64, mmapOffset: UInt64) {
        self.guestAddress = guestAddress
        self.size = size
        self.userAddress = userAddress
        self.mmapOffset = mmapOffset
    }

    /// Bytes of one region on the wire.
    static let byteCount = 32
}

/// SET_VRING_ADDR's payload: a ring's three parts, as front-end (user) addresses.
public struct VhostUserVringAddress: Sendable, Equatable {
    public var index: UInt32
    public var flags: UInt32
    public var descriptors: UInt64
    public var used: UInt64
    public var available: UInt64
    public var log: UInt64

    public init(index: UInt32, flags: UInt32 = 0, descriptors: UInt64, used: UInt64, available: UInt64, log: UInt64 = 0) {
        self.index = index
        self.flags = flags
        self.descriptors = descriptors
        self.used = used
        self.available = available
        self.log = log
    }
}

/// A request decoded, its descriptors owned. `decode` is total: a payload of the wrong size, a
/// wrong descriptor count or a field out of range throws `VhostUserError`.
public enum VhostUserCommand: Sendable {
    case getFeatures
    case setFeatures(UInt64)
    case setOwner
    case resetOwner
    case resetDevice
    case setMemTable([VhostUserMemoryRegion], [OwnedFileDescriptor])
    case setVringNum(index: UInt32, num: UInt32)
    case setVringAddr(VhostUserVringAddress)
    case setVringBase(index: UInt32, num: UInt32)
    case getVringBase(index: UInt32)
    /// KICK, CALL or ERR: the ring and its eventfd (nil: the front-end said "no descriptor").
    case setVringFile(VhostUserRequest, index: UInt32, descriptor: OwnedFileDescriptor?)
    case getProtocolFeatures
    case setProtocolFeatures(UInt64)
    case getQueueNum
    case setVringEnable(index: UInt32, enabled: Bool)
    case getConfig(offset: UInt32, size: UInt32, flags: UInt32)
    case setConfig(offset: UInt32, flags: UInt32, data: [UInt8])
    case gpuSetSocket(OwnedFileDescriptor)

    /// The most memory regions one SET_MEM_TABLE carries (VHOST_MEMORY_BASELINE_NREGIONS).
    public static let maxRegions = 8
    /// The largest config space read or written at once.
    public static let maxConfigSize = 256
    /// The "no descriptor" bit of a vring file payload.
    static let noDescriptorFlag: UInt64 = 1 << 8

    /// Decodes `message`'s request (of a known number) from its payload and descriptors.
    public static func decode(_ message: VhostUserMessage) throws(VhostUserError) -> VhostUserCommand {
        guard let request = VhostUserRequest(rawValue: message.request) else { throw .unknownRequest(message.request) }
        let payload = message.payload, fds = message.descriptors
        var input = LittleEndianReader(payload)
        func expect(_ size: Int, fds count: Int = 0) throws(VhostUserError) {
            guard payload.count == size else { throw .payloadSize(request: message.request, size: payload.count, expected: "\(size)") }
            guard fds.count == count else { throw .descriptorCount(request: message.request, count: fds.count, expected: count) }
        }
        switch request {
        case .getFeatures: try expect(0); return .getFeatures
        case .getProtocolFeatures: try expect(0); return .getProtocolFeatures
        case .getQueueNum: try expect(0); return .getQueueNum
        case .setOwner: try expect(0); return .setOwner
        case .resetOwner: try expect(0); return .resetOwner
        case .resetDevice: try expect(0); return .resetDevice
        case .setFeatures: try expect(8); return .setFeatures(try input.u64())
        case .setProtocolFeatures: try expect(8); return .setProtocolFeatures(try input.u64())
        case .setVringNum, .setVringBase, .getVringBase, .setVringEnable:
            try expect(8)
            let index = try input.u32(), num = try input.u32()
            switch request {
            case .setVringNum: return .setVringNum(index: index, num: num)
            case .setVringBase: return .setVringBase(index: index, num: num)
            case .getVringBase: return .getVringBase(index: index)
            default:
                guard num <= 1 else { throw .invalid("SET_VRING_ENABLE of ring \(index): \(num) is neither 0 nor 1") }
                return .setVringEnable(index: index, enabled: num == 1)
            }
        case .setVringAddr:
            try expect(40)
            return .setVringAddr(VhostUserVringAddress(index: try input.u32(), flags: try input.u32(), descriptors: try input.u64(),
                                                       used: try input.u64(), available: try input.u64(), log: try input.u64()))
        case .setVringKick, .setVringCall, .setVringErr:
            guard payload.count == 8 else { throw .payloadSize(request: message.request, size: payload.count, expected: "8") }
            let value = try input.u64()
            guard value & ~(0xFF | noDescriptorFlag) == 0 else { throw .invalid("vring file payload 0x\(String(value, radix: 16)) has unknown bits") }
            let none = value & noDescriptorFlag != 0
            try expect(8, fds: none ? 0 : 1)
            return .setVringFile(request, index: UInt32(value & 0xFF), descriptor: fds.first)
        case .setMemTable:
            guard payload.count >= 8 else { throw .payloadSize(request: message.request, size: payload.count, expected: "at least 8") }
            let count = Int(try input.u32())
            _ = try input.u32()
            guard count <= maxRegions else { throw .invalid("SET_MEM_TABLE of \(count) regions: at most \(maxRegions)") }
            let size = 8 + count * VhostUserMemoryRegion.byteCount
            // QEMU sends only the regions it fills; the spec's fixed array of 8 is accepted too.
            guard payload.count == size || payload.count == 8 + maxRegions * VhostUserMemoryRegion.byteCount else {
                throw .payloadSize(request: message.request, size: payload.count, expected: "\(size)")
            }
            guard fds.count == count else { throw .descriptorCount(request: message.request, count: fds.count, expected: count) }
            var regions: [VhostUserMemoryRegion] = []
            for _ in 0..<count {
                regions.append(VhostUserMemoryRegion(guestAddress: try input.u64(), size: try input.u64(),
                                                     userAddress: try input.u64(), mmapOffset: try input.u64()))
            }
            return .setMemTable(regions, fds)
        case .getConfig, .setConfig:
            guard payload.count >= 12 else { throw .payloadSize(request: message.request, size: payload.count, expected: "at least 12") }
            let offset = try input.u32(), size = try input.u32(), flags = try input.u32()
            guard size <= maxConfigSize, payload.count == 12 + Int(size) else {
                throw .payloadSize(request: message.request, size: payload.count, expected: "12 + its size field (\(size)), at most \(12 + maxConfigSize)")
            }
            try expect(payload.count)
            if request == .getConfig { return .getConfig(offset: offset, size: size, flags: flags) }
            return .setConfig(offset: offset, flags: flags, data: try input.take(Int(size)))
        case .gpuSetSocket:
            try expect(0, fds: 1)
            return .gpuSetSocket(fds[0])
        }
    }
}
