/// The spec's `mesaApi` section as written: the C API of Mesa's Magma lineage, its own header
/// beside magma.h (docs/mesa-c-api.md is generated from it too).
struct MesaApiEntry: Decodable {
    var doc: String
    /// The header's path in the package.
    var header: String
    /// Major, minor and patch of the API.
    var version: [Int]
    var handles: [HandleEntry]
    var constants: [ConstantEntry]
    var enums: [EnumEntry]
    var structs: [StructEntry]
    var functions: [FunctionEntry]

    /// An opaque object type: `typedef struct <name> *<name>_t`.
    struct HandleEntry: Decodable {
        var name: String
        var doc: String
    }

    /// A `#define` of an integer.
    struct ConstantEntry: Decodable {
        var name: String
        var value: Int64
        var doc: String
    }

    /// A 32-bit C enum (`closed`: only its members) or flag set (`bits`).
    struct EnumEntry: Decodable {
        var name: String
        var kind: String
        var c: SpecFile.CNaming
        var doc: String
        var members: [SpecFile.MemberEntry]
    }

    /// A struct; an extensible one (`in`: the caller fills it; `out`: the library does) begins
    /// with s_type, size and next, and `stype` is its structure_type value.
    struct StructEntry: Decodable {
        var name: String
        var extensible: String?
        var stype: Int64?
        var doc: String
        var fields: [FieldEntry]
    }

    /// A field; `count` (a constant's name) makes it a fixed array.
    struct FieldEntry: Decodable {
        var name: String
        var type: String
        var count: String?
        var doc: String
    }

    /// A function; `mesa` is the name Mesa's magma.h gives the same call, if it has one.
    struct FunctionEntry: Decodable {
        var name: String
        var mesa: String?
        var returns: String
        var doc: String
        var params: [ParameterEntry]
    }

    struct ParameterEntry: Decodable {
        var name: String
        var type: String
        var doc: String
    }
}

/// The `mesaApi` section, checked: every type a field, parameter or result names is declared,
/// every extensible struct's `stype` is the structure_type member named after it, and names are
/// unique. The header and docs emitters read only this.
struct MesaApi {
    var entry: MesaApiEntry
    /// The status codes (the spec's `status` enum: Fuchsia's values).
    var status: EnumType

    /// The enum that numbers the extensible structs.
    static let structureTypeEnum = "structure_type"

    init(_ entry: MesaApiEntry, status: EnumType?) throws(SpecError) {
        guard let status, let statusType = status.cType, status.cPrefix != nil else {
            throw SpecError("mesaApi: the status enum with its C names is missing")
        }
        self.entry = entry
        self.status = status
        guard entry.version.count == 3, entry.version.allSatisfy({ $0 >= 0 }) else { throw SpecError("mesaApi.version is [major, minor, patch]") }

        let handles = entry.handles.map { $0.name + "_t" }
        let enums = entry.enums.map(\.c.type)
        let structs = entry.structs.map { $0.name + "_t" }
        try Self.unique(handles + enums + structs + [statusType], "mesaApi type")
        try Self.unique(entry.constants.map(\.name), "mesaApi constant")
        try Self.unique(entry.functions.map(\.name), "mesaApi function")
        try Self.unique(entry.functions.compactMap(\.mesa), "Mesa name")
        for type in entry.enums {
            guard ["closed", "bits"].contains(type.kind), !type.members.isEmpty else {
                throw SpecError("mesaApi enum \(type.name): needs kind closed or bits, and members")
            }
            try Self.unique(type.members.map(\.name), "member of \(type.name)")
            try Self.unique(type.members.map { String($0.value) }, "value of \(type.name)")
            for member in type.members where member.value < 0 || member.value > Int64(UInt32.max) {
                throw SpecError("\(type.name).\(member.name): values are 32-bit unsigned")
            }
        }

        let known = Set(handles + enums + structs + [statusType])
        let constants = Set(entry.constants.map(\.name))
        let stypes = entry.enums.first { $0.name == Self.structureTypeEnum }?.members ?? []
        for type in entry.structs {
            guard type.name.hasPrefix("magma_"), !type.fields.isEmpty else { throw SpecError("mesaApi struct \(type.name): a magma_ name and fields") }
            try Self.unique(type.fields.map(\.name) + (type.extensible == nil ? [] : ["s_type", "size", "next"]), "field of \(type.name)")
            switch type.extensible {
            case nil:
                guard type.stype == nil else { throw SpecError("\(type.name): stype without extensible") }
            case "in", "out":
                let member = stypes.first { "magma_" + $0.name == type.name }
                guard let member, member.value == type.stype else {
                    throw SpecError("\(type.name): stype must be the value of \(Self.structureTypeEnum).\(type.name.dropFirst(6))")
                }
            case let other?:
                throw SpecError("\(type.name): extensible is in or out, not \(other)")
            }
            for field in type.fields {
                try Self.check(field.type, known: known, in: "\(type.name).\(field.name)")
                if let count = field.count, !constants.contains(count) { throw SpecError("\(type.name).\(field.name): unknown count \(count)") }
            }
        }
        for function in entry.functions {
            guard function.name.hasPrefix("magma_") else { throw SpecError("mesaApi function \(function.name): a magma_ name") }
            try Self.unique(function.params.map(\.name), "parameter of \(function.name)")
            if function.returns != "void" { try Self.check(function.returns, known: known, in: "\(function.name) result") }
            for parameter in function.params { try Self.check(parameter.type, known: known, in: "\(function.name)(\(parameter.name))") }
        }
    }

    /// C types a field or parameter may name besides the section's own.
    private static let cTypes: Set<String> = ["char", "void", "uint32_t", "uint64_t", "int32_t", "int64_t"]

    /// `type` is `[const ]name[ *]` with a known name.
    private static func check(_ type: String, known: Set<String>, in place: String) throws(SpecError) {
        var name = Substring(type)
        if name.hasPrefix("const ") { name = name.dropFirst(6) }
        if name.hasSuffix(" *") { name = name.dropLast(2) }
        guard known.contains(String(name)) || cTypes.contains(String(name)), name != "void" || type.hasSuffix("*") else {
            throw SpecError("\(place): unknown type '\(type)'")
        }
    }

    private static func unique(_ names: [String], _ what: String) throws(SpecError) {
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted { throw SpecError("\(what) \(name) declared twice") }
    }
}
