import MagmaProtocol

/// The 24 bytes that start every message.
///
/// | offset | type | field |
/// |---|---|---|
/// | 0 | u32 | length: the whole message, header included; a multiple of 8 |
/// | 4 | u32 | ordinal: which message |
/// | 8 | u32 | transaction id: nonzero on a call and its reply, 0 on one-way messages |
/// | 12 | u16 | version of the message's layout the sender wrote |
/// | 14 | u8 | handle count |
/// | 15 | u8 | wire format (1) |
/// | 16 | u32 | inline length: bytes of fixed-layout fields after the header; a multiple of 8 |
/// | 20 | u32 | reserved, zero |
public struct MessageHeader: Hashable, Sendable {
    /// Bytes in a header.
    public static let byteCount = 24

    /// The whole message's length in bytes.
    public var length: UInt32
    /// Which message this is.
    public var ordinal: UInt32
    /// Pairs a call with its reply; 0 for one-way messages.
    public var transactionId: UInt32
    /// The layout version the sender wrote.
    public var version: UInt16
    /// How many handles travel with the message.
    public var handleCount: UInt8
    /// The wire format; this codec speaks `ProtocolLimits.wireFormat`.
    public var wireFormat: UInt8
    /// Bytes of the inline (fixed-layout) part after the header.
    public var inlineLength: UInt32

    /// Where out-of-line data may start.
    public var outOfLineStart: Int { MessageHeader.byteCount + Int(inlineLength) }

    /// Reads and checks a header against the bytes and handles that arrived with it.
    public init(validating bytes: [UInt8], handleCount received: Int) throws(WireError) {
        guard bytes.count <= ProtocolLimits.maxMessageBytes else {
            throw .oversized(limit: ProtocolLimits.maxMessageBytes, actual: bytes.count)
        }
        guard bytes.count >= MessageHeader.byteCount else {
            throw .truncated(needed: MessageHeader.byteCount, available: bytes.count)
        }
        length = WireBytes.load(UInt32.self, bytes, 0)
        ordinal = WireBytes.load(UInt32.self, bytes, 4)
        transactionId = WireBytes.load(UInt32.self, bytes, 8)
        version = WireBytes.load(UInt16.self, bytes, 12)
        handleCount = WireBytes.load(UInt8.self, bytes, 14)
        wireFormat = WireBytes.load(UInt8.self, bytes, 15)
        inlineLength = WireBytes.load(UInt32.self, bytes, 16)
        let reserved = WireBytes.load(UInt32.self, bytes, 20)

        guard wireFormat == ProtocolLimits.wireFormat else { throw .unsupportedWireFormat(wireFormat) }
        guard reserved == 0 else { throw .reservedNotZero(what: "header word") }
        guard length % 8 == 0 else { throw .misaligned(what: "message length", value: Int(length)) }
        guard Int(length) <= bytes.count else { throw .truncated(needed: Int(length), available: bytes.count) }
        guard Int(length) == bytes.count else { throw .oversized(limit: Int(length), actual: bytes.count) }
        guard inlineLength % 8 == 0 else { throw .misaligned(what: "inline length", value: Int(inlineLength)) }
        guard outOfLineStart <= bytes.count else { throw .truncated(needed: outOfLineStart, available: bytes.count) }
        guard version > 0 else { throw .invalidVersion(version) }
        guard received <= ProtocolLimits.maxHandles else {
            throw .tooManyHandles(limit: ProtocolLimits.maxHandles, actual: received)
        }
        guard Int(handleCount) == received else { throw .handleCountMismatch(declared: Int(handleCount), received: received) }
    }
}

/// Little-endian loads and stores on byte arrays, for offsets already checked.
enum WireBytes {
    @inline(__always)
    static func load<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8], _ offset: Int) -> T {
        T(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) })
    }

    @inline(__always)
    static func store<T: FixedWidthInteger>(_ value: T, _ bytes: inout [UInt8], _ offset: Int) {
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self) }
    }
}
