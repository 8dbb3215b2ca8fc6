/// The protocol spec, resolved and validated: every type reference is bound and every field has
/// its wire offset. The emitters read only this.
public struct ProtocolSpec {
    public var name: String
    public var doc: String
    public var wireFormat: Int
    public var maxMessageBytes: Int
    public var maxHandles: Int
    public var enums: [EnumType]
    public var constants: [Constant]
    var cTypedefs: [SpecFile.CTypedefEntry]
    var cStructs: [SpecFile.CStructEntry]
    public var structs: [StructType]
    public var protocols: [ProtocolDefinition]
    /// The C API of Mesa's lineage (its own header).
    var mesaApi: MesaApi

    /// Every message of every protocol.
    public var messages: [Message] { protocols.flatMap(\.messages) }
}

/// A fixed-width wire scalar.
public enum Scalar: String, CaseIterable, Sendable {
    case u8, u16, u32, u64, i8, i16, i32, i64, bool

    /// Bytes on the wire; also the alignment.
    public var size: Int {
        switch self {
        case .u8, .i8, .bool: 1
        case .u16, .i16: 2
        case .u32, .i32: 4
        case .u64, .i64: 8
        }
    }

    var swiftType: String {
        switch self {
        case .u8: "UInt8"
        case .u16: "UInt16"
        case .u32: "UInt32"
        case .u64: "UInt64"
        case .i8: "Int8"
        case .i16: "Int16"
        case .i32: "Int32"
        case .i64: "Int64"
        case .bool: "Bool"
        }
    }

    var cType: String {
        switch self {
        case .bool: "uint8_t"
        case .u8, .u16, .u32, .u64: "uint\(size * 8)_t"
        case .i8, .i16, .i32, .i64: "int\(size * 8)_t"
        }
    }

    var isSigned: Bool { [.i8, .i16, .i32, .i64].contains(self) }

    /// Whether `value` is representable.
    func holds(_ value: Int64) -> Bool {
        switch self {
        case .bool: value == 0 || value == 1
        case .u64: value >= 0
        case .i64: true
        default:
            isSigned ? value >= -(Int64(1) << (size * 8 - 1)) && value < Int64(1) << (size * 8 - 1)
                : value >= 0 && value < Int64(1) << (size * 8)
        }
    }
}

/// An enumeration: closed (unknown values are rejected), open (any value; named ones are
/// constants) or bits (a flag set).
public struct EnumType {
    public enum Kind: String { case closed, open, bits }
    public var name: String
    public var swiftName: String?
    public var kind: Kind
    public var scalar: Scalar
    public var cType: String?
    public var cPrefix: String?
    public var doc: String
    public var members: [Member]

    public struct Member {
        public var name: String
        public var value: Int64
        public var doc: String
    }
}

/// A constant's value: a number or a string.
public enum ConstantValue: Decodable, Equatable, Sendable {
    case integer(Int64)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int64.self) { self = .integer(value) } else {
            self = .string(try container.decode(String.self))
        }
    }
}

/// A named constant.
public struct Constant {
    public var name: String
    public var type: String
    public var value: ConstantValue
    public var cName: String?
    public var swiftName: String?
    public var swiftType: String?
    public var doc: String
}

/// What a field holds.
public indirect enum FieldType {
    case scalar(Scalar)
    case enumeration(EnumType)
    case structure(StructType)
    case vector(FieldType, limit: Int)
    case bytes(limit: Int)
    case string(limit: Int)
    case handle(kind: String, optional: Bool)

    /// Bytes in the inline part.
    var inlineSize: Int {
        switch self {
        case .scalar(let scalar): scalar.size
        case .enumeration(let type): type.scalar.size
        case .structure(let type): type.size
        case .vector, .bytes, .string: WireLayout.vectorDescriptorSize
        case .handle: 4
        }
    }

    /// Alignment in the inline part.
    var alignment: Int {
        switch self {
        case .scalar(let scalar): scalar.size
        case .enumeration(let type): type.scalar.size
        case .structure, .vector, .bytes, .string: 8
        case .handle: 4
        }
    }

    var isHandle: Bool { if case .handle = self { true } else { false } }
}

/// A field of a struct or message, with its offset in the inline part.
public struct Field {
    public var name: String
    public var type: FieldType
    public var since: Int
    public var defaultValue: Int64?
    public var doc: String
    public var offset: Int
}

/// A struct that travels inside messages.
public struct StructType {
    public var name: String
    public var swiftName: String
    public var version: Int
    public var doc: String
    public var fields: [Field]

    /// Bytes of the newest layout.
    public var size: Int { WireLayout.size(of: fields, at: version) }
    /// Bytes of the first layout.
    public var minimumSize: Int { WireLayout.size(of: fields, at: 1) }
}

/// A message of a protocol.
public struct Message {
    public enum Side: String { case client, server }
    public var protocolName: String
    public var name: String
    public var ordinal: Int
    public var from: Side
    public var version: Int
    public var reply: String?
    public var doc: String
    public var fields: [Field]

    /// Bytes of the inline part in layout `version`.
    public func inlineSize(at version: Int) -> Int { WireLayout.size(of: fields, at: version) }
}

/// A protocol: the messages spoken on one kind of channel.
public struct ProtocolDefinition {
    public var name: String
    public var swiftName: String
    public var ordinalBase: Int
    public var doc: String
    public var messages: [Message]
}

/// Offsets and sizes of the wire format.
enum WireLayout {
    /// u32 offset, u32 count, u32 stride, u32 zero.
    static let vectorDescriptorSize = 16
    /// Bytes of the message header.
    static let headerSize = 24

    static func align(_ value: Int, to alignment: Int) -> Int { (value + alignment - 1) / alignment * alignment }

    /// Places fields in order, each at its natural alignment.
    static func place(_ fields: [(name: String, type: FieldType)]) -> [Int] {
        var end = 0
        return fields.map { field in
            let offset = align(end, to: field.type.alignment)
            end = offset + field.type.inlineSize
            return offset
        }
    }

    /// The inline size of the fields that exist in `version`, padded to 8.
    static func size(of fields: [Field], at version: Int) -> Int {
        let end = fields.filter { $0.since <= version }.map { $0.offset + $0.type.inlineSize }.max() ?? 0
        return align(end, to: 8)
    }
}
