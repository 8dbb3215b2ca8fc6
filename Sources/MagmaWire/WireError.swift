import MagmaProtocol

/// Why a message could not be decoded (or encoded). Decoders throw these and never trap, whatever
/// the bytes.
public enum WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the header, the declared length or a field needs.
    case truncated(needed: Int, available: Int)
    /// More bytes than the protocol allows, or than the header declares.
    case oversized(limit: Int, actual: Int)
    /// A length or an out-of-line offset that is not a multiple of 8.
    case misaligned(what: String, value: Int)
    /// A wire format this codec does not speak.
    case unsupportedWireFormat(UInt8)
    /// Message version 0, which no peer sends.
    case invalidVersion(UInt16)
    /// An ordinal this side does not expect on this channel.
    case unknownOrdinal(UInt32)
    /// A reserved field that is not zero.
    case reservedNotZero(what: String)
    /// A vector with more elements than the spec allows.
    case tooManyElements(field: String, count: Int, limit: Int)
    /// A vector whose element stride cannot hold its element type.
    case badStride(field: String, stride: Int)
    /// A vector that points into the header or inline part, or past the end of the message, or
    /// vectors that overlap (together they cover more than the out-of-line part).
    case outOfBounds(field: String)
    /// A value a closed enum does not define.
    case unknownEnumValue(type: String, value: Int64)
    /// A boolean that is neither 0 nor 1.
    case invalidBool(field: String, value: UInt8)
    /// A string that is not UTF-8.
    case invalidUTF8(field: String)
    /// The header's handle count differs from the handles that arrived.
    case handleCountMismatch(declared: Int, received: Int)
    /// More handles than the protocol allows.
    case tooManyHandles(limit: Int, actual: Int)
    /// A handle index past the end of the handle list.
    case handleIndexOutOfRange(field: String, index: UInt32)
    /// Two fields claim the same handle.
    case handleClaimedTwice(field: String, index: UInt32)
    /// A required handle that is absent.
    case missingHandle(field: String)
    /// A handle no field claimed, in a message whose every field this side knows.
    case unclaimedHandle(index: Int)

    public var description: String {
        switch self {
        case .truncated(let needed, let available): "truncated: needs \(needed) bytes, has \(available)"
        case .oversized(let limit, let actual): "oversized: \(actual) bytes, limit \(limit)"
        case .misaligned(let what, let value): "misaligned \(what): \(value) is not a multiple of 8"
        case .unsupportedWireFormat(let format): "unsupported wire format \(format)"
        case .invalidVersion(let version): "invalid message version \(version)"
        case .unknownOrdinal(let ordinal): "unknown ordinal 0x\(String(ordinal, radix: 16))"
        case .reservedNotZero(let what): "reserved \(what) is not zero"
        case .tooManyElements(let field, let count, let limit): "\(field): \(count) elements, limit \(limit)"
        case .badStride(let field, let stride): "\(field): element stride \(stride) does not fit the element"
        case .outOfBounds(let field): "\(field): out-of-line data outside the message's data area"
        case .unknownEnumValue(let type, let value): "unknown \(type) value \(value)"
        case .invalidBool(let field, let value): "\(field): boolean \(value) is neither 0 nor 1"
        case .invalidUTF8(let field): "\(field): not UTF-8"
        case .handleCountMismatch(let declared, let received): "header declares \(declared) handles, \(received) arrived"
        case .tooManyHandles(let limit, let actual): "\(actual) handles, limit \(limit)"
        case .handleIndexOutOfRange(let field, let index): "\(field): handle index \(index) out of range"
        case .handleClaimedTwice(let field, let index): "\(field): handle \(index) already claimed"
        case .missingHandle(let field): "\(field): required handle absent"
        case .unclaimedHandle(let index): "handle \(index) claimed by no field"
        }
    }
}

extension MagmaError {
    /// The status a server answers a malformed message with: INVALID_ARGS, with the reason.
    public init(_ error: WireError) { self = .invalidArgs("malformed message: \(error)") }
}
