/// A message of the protocol spec. Conformances are generated from `protocol/magma.json`.
public protocol WireMessage: Hashable, Sendable {
    /// The message's number, unique across the spec.
    static var ordinal: UInt32 { get }
    /// The newest layout version this side knows.
    static var version: UInt16 { get }
    /// `Protocol.Message`, for diagnostics.
    static var name: String { get }
    /// Bytes of the inline part in layout `version`.
    static func inlineSize(at version: UInt16) -> Int
    /// Writes the fields that exist in layout `version`.
    func encode(into encoder: inout WireEncoder, version: UInt16) throws(WireError)
    /// Reads the fields that exist in layout `version`; newer ones take their defaults.
    init(decoding decoder: inout WireDecoder, version: UInt16) throws(WireError)
}

extension WireMessage {
    /// Encodes the message in layout `version` (the newest by default; an older one to talk to
    /// an older peer).
    public func encoded(transactionId: UInt32 = 0, version: UInt16 = Self.version) throws(WireError) -> EncodedMessage {
        let layout = max(1, min(version, Self.version))
        var encoder = WireEncoder(ordinal: Self.ordinal, version: layout, transactionId: transactionId, inlineSize: Self.inlineSize(at: layout))
        try encode(into: &encoder, version: layout)
        return try encoder.finish()
    }

    /// Decodes a message that must be this one, as a peer that knows layouts up to `knownVersion`.
    public static func decoded(bytes: [UInt8], handles: [WireHandle] = [], knownVersion: UInt16 = Self.version) throws(WireError) -> Self {
        var decoder = try WireDecoder(bytes: bytes, handles: handles)
        guard decoder.header.ordinal == ordinal else { throw .unknownOrdinal(decoder.header.ordinal) }
        return try decoder.decodeBody(Self.self, knownVersion: knownVersion)
    }
}

/// A struct that travels inside messages. Conformances are generated from the spec.
public protocol WireStruct: Hashable, Sendable {
    /// Bytes of the layout this side writes; the stride of its vectors.
    static var wireSize: Int { get }
    /// Bytes of the oldest layout: the smallest stride a peer may send.
    static var minimumWireSize: Int { get }
    /// Writes the struct at an absolute offset.
    func encode(into encoder: inout WireEncoder, at offset: Int) throws(WireError)
    /// Reads a struct of `size` bytes at an absolute offset; fields past `size` take defaults.
    init(decoding decoder: inout WireDecoder, at offset: Int, size: Int) throws(WireError)
}

/// A decoded message with what the transport needs besides it.
public struct Received<Message: Sendable>: Sendable {
    /// The message.
    public var message: Message
    /// Its header (the transaction id pairs calls with replies).
    public var header: MessageHeader
    /// Handles that arrived for fields this side does not know; the transport closes them.
    public var unclaimedHandles: [WireHandle]

    /// Wraps a decoded message.
    public init(message: Message, header: MessageHeader, unclaimedHandles: [WireHandle]) {
        self.message = message
        self.header = header
        self.unclaimedHandles = unclaimedHandles
    }
}
