import Foundation

/// The spec file as written: `protocol/magma.json`, decoded strictly (an unknown key is an error,
/// so a misspelt "since" cannot be silently ignored).
struct SpecFile: Decodable {
    var name: String
    var doc: String
    var wireFormat: Int
    var limits: Limits
    var enums: [EnumEntry]
    var constants: [ConstantEntry]
    var cTypedefs: [CTypedefEntry]
    var cStructs: [CStructEntry]
    var structs: [StructEntry]
    var protocols: [ProtocolEntry]
    var mesaApi: MesaApiEntry

    struct Limits: Decodable {
        var maxMessageBytes: Int
        var maxHandles: Int
    }

    struct EnumEntry: Decodable {
        var name: String
        var swift: String?
        var kind: String
        var type: String
        var c: CNaming?
        var doc: String
        var members: [MemberEntry]
    }

    struct CNaming: Decodable {
        var type: String
        var prefix: String
    }

    struct MemberEntry: Decodable {
        var name: String
        var value: Int64
        var doc: String
    }

    struct ConstantEntry: Decodable {
        var name: String
        var type: String
        var value: ConstantValue
        var c: String?
        var swift: String?
        var swiftType: String?
        var doc: String
    }

    struct CTypedefEntry: Decodable {
        var name: String
        var type: String
        var doc: String
    }

    struct CStructEntry: Decodable {
        var name: String
        var size: Int
        var alignment: Int
        var aligned: Int?
        var doc: String
        var fields: [CFieldEntry]
    }

    /// A C field, or an anonymous union of fields.
    struct CFieldEntry: Decodable {
        var name: String?
        var type: String?
        var doc: String?
        var union: [CFieldEntry]?
    }

    struct StructEntry: Decodable {
        var name: String
        var swift: String
        var version: Int
        var doc: String
        var fields: [FieldEntry]
    }

    struct FieldEntry: Decodable {
        var name: String
        var type: String
        var since: Int
        var max: Int?
        var `default`: Int64?
        var doc: String
    }

    struct ProtocolEntry: Decodable {
        var name: String
        var swift: String
        var ordinalBase: Int
        var doc: String
        var messages: [MessageEntry]
    }

    struct MessageEntry: Decodable {
        var name: String
        var ordinal: Int
        var from: String
        var version: Int
        var reply: String?
        var doc: String
        var fields: [FieldEntry]
    }
}

/// Rejects JSON objects with keys the spec format does not define.
enum StrictKeys {
    /// The keys each kind of object may have, by the path of its parent array.
    static let allowed: [String: Set<String>] = [
        "": ["name", "doc", "wireFormat", "limits", "enums", "constants", "cTypedefs", "cStructs", "structs", "protocols", "mesaApi"],
        "limits": ["maxMessageBytes", "maxHandles"],
        "enums": ["name", "swift", "kind", "type", "c", "doc", "members"],
        "enums.c": ["type", "prefix"],
        "enums.members": ["name", "value", "doc"],
        "constants": ["name", "type", "value", "c", "swift", "swiftType", "doc"],
        "cTypedefs": ["name", "type", "doc"],
        "cStructs": ["name", "size", "alignment", "aligned", "doc", "fields"],
        "cStructs.fields": ["name", "type", "doc", "union"],
        "cStructs.fields.union": ["name", "type", "doc"],
        "structs": ["name", "swift", "version", "doc", "fields"],
        "structs.fields": ["name", "type", "since", "max", "default", "doc"],
        "protocols": ["name", "swift", "ordinalBase", "doc", "messages"],
        "protocols.messages": ["name", "ordinal", "from", "version", "reply", "doc", "fields"],
        "protocols.messages.fields": ["name", "type", "since", "max", "default", "doc"],
        "mesaApi": ["doc", "header", "version", "handles", "constants", "enums", "structs", "functions"],
        "mesaApi.handles": ["name", "doc"],
        "mesaApi.constants": ["name", "value", "doc"],
        "mesaApi.enums": ["name", "kind", "c", "doc", "members"],
        "mesaApi.enums.c": ["type", "prefix"],
        "mesaApi.enums.members": ["name", "value", "doc"],
        "mesaApi.structs": ["name", "extensible", "stype", "doc", "fields"],
        "mesaApi.structs.fields": ["name", "type", "count", "doc"],
        "mesaApi.functions": ["name", "mesa", "returns", "doc", "params"],
        "mesaApi.functions.params": ["name", "type", "doc"],
    ]

    static func check(_ json: Any, path: String = "") throws(SpecError) {
        if let array = json as? [Any] {
            for element in array { try check(element, path: path) }
        } else if let object = json as? [String: Any] {
            guard let keys = allowed[path] else { throw SpecError("unexpected object at '\(path)'") }
            for (key, value) in object {
                guard keys.contains(key) else { throw SpecError("unknown key '\(key)' in '\(path.isEmpty ? "spec" : path)'") }
                let child = path.isEmpty ? key : "\(path).\(key)"
                if value is [Any] || value is [String: Any] { try check(value, path: child) }
            }
        }
    }
}

/// A spec that cannot be used, and why.
public struct SpecError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}
