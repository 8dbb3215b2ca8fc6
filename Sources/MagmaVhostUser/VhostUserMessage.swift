import MagmaPlatform

/// One vhost-user message as it travels: a 12-byte header (request, flags, payload size, all
/// little-endian), the payload, and the descriptors that came with it (SCM_RIGHTS).
public struct VhostUserMessage: Sendable {
    /// Bytes of the header.
    public static let headerSize = 12
    /// The largest payload any request this back-end handles carries (a memory table of 8
    /// regions is 264 bytes; a config request at most 12 + 256).
    public static let maxPayloadSize = 4096
    /// The protocol version in the low two flag bits.
    public static let version: UInt32 = 0x1
    /// The flag of a reply.
    public static let replyFlag: UInt32 = 0x4
    /// The flag of a request whose sender wants a REPLY_ACK status.
    public static let needReplyFlag: UInt32 = 0x8

    /// The request number.
    public var request: UInt32
    /// The header's flags.
    public var flags: UInt32
    /// The payload's bytes.
    public var payload: [UInt8]
    /// The descriptors that came with the message.
    public var descriptors: [OwnedFileDescriptor]

    /// A message of `request` with `payload` and `descriptors`.
    public init(request: UInt32, flags: UInt32 = VhostUserMessage.version, payload: [UInt8] = [], descriptors: [OwnedFileDescriptor] = []) {
        self.request = request
        self.flags = flags
        self.payload = payload
        self.descriptors = descriptors
    }

    /// Whether the sender asked for a REPLY_ACK.
    public var needsReply: Bool { flags & Self.needReplyFlag != 0 }

    /// The header and payload as sent.
    public var encoded: [UInt8] {
        var out = LittleEndianWriter()
        out.u32(request)
        out.u32(flags)
        out.u32(UInt32(payload.count))
        return out.bytes + payload
    }

    /// Decodes a header: request, flags and payload size. Refuses a version other than 1 and a
    /// payload past `maxPayloadSize` (the stream cannot be trusted after either).
    public static func decodeHeader(_ bytes: [UInt8], requireVersion: Bool = true) throws(VhostUserError) -> (request: UInt32, flags: UInt32, size: Int) {
        var input = LittleEndianReader(bytes)
        let request = try input.u32(), flags = try input.u32(), size = try input.u32()
        guard flags & 0x3 == version || !requireVersion, size <= maxPayloadSize else { throw .badHeader(request: request, flags: flags, size: size) }
        return (request, flags, Int(size))
    }

    /// A reply to `request` carrying `payload`.
    public static func reply(to request: UInt32, payload: [UInt8]) -> VhostUserMessage {
        VhostUserMessage(request: request, flags: version | replyFlag, payload: payload)
    }
}

/// Little-endian fields appended to a byte array.
struct LittleEndianWriter {
    var bytes: [UInt8] = []
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
}

/// Little-endian fields read from a byte array; reading past its end throws.
struct LittleEndianReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func u32() throws(VhostUserError) -> UInt32 { UInt32(truncatingIfNeeded: try field(4)) }
    mutating func u64() throws(VhostUserError) -> UInt64 { try field(8) }

    mutating func take(_ count: Int) throws(VhostUserError) -> [UInt8] {
        guard count >= 0, count <= remaining else { throw .truncated(needed: offset + count, received: bytes.count) }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    private mutating func field(_ size: Int) throws(VhostUserError) -> UInt64 {
        guard size <= remaining else { throw .truncated(needed: offset + size, received: bytes.count) }
        var value: UInt64 = 0
        for index in 0..<size { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
        offset += size
        return value
    }
}
