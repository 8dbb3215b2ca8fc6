import Foundation

extension ProtocolSpec {
    /// Reads, resolves and validates a spec.
    public init(json data: Data) throws(SpecError) {
        let raw: Any
        let file: SpecFile
        do {
            raw = try JSONSerialization.jsonObject(with: data)
        } catch { throw SpecError("not JSON: \(error)") }
        try StrictKeys.check(raw)
        do {
            file = try JSONDecoder().decode(SpecFile.self, from: data)
        } catch { throw SpecError("spec does not match the format: \(error)") }
        var resolver = SpecResolver(file: file)
        self = try resolver.resolve()
    }
}

/// Binds type names and checks every rule of the spec format.
private struct SpecResolver {
    let file: SpecFile
    var enums: [String: EnumType] = [:]
    var structs: [String: StructType] = [:]

    init(file: SpecFile) { self.file = file }

    mutating func resolve() throws(SpecError) -> ProtocolSpec {
        guard file.wireFormat == 1 else { throw SpecError("wireFormat \(file.wireFormat): this generator writes format 1") }
        guard file.limits.maxMessageBytes % 8 == 0, file.limits.maxMessageBytes <= 1 << 24 else {
            throw SpecError("maxMessageBytes must be a multiple of 8, at most 16 MiB")
        }
        guard (1...255).contains(file.limits.maxHandles) else { throw SpecError("maxHandles must be 1...255") }

        let resolvedEnums = try file.enums.map { entry throws(SpecError) in try resolveEnum(entry) }
        for type in resolvedEnums {
            guard enums.updateValue(type, forKey: type.name) == nil else { throw SpecError("enum \(type.name) declared twice") }
        }
        let constants = try file.constants.map { entry throws(SpecError) in try resolveConstant(entry) }
        try checkUnique(constants.map(\.name), "constant")
        try checkCStructs()

        var resolvedStructs: [StructType] = []
        for entry in file.structs {
            let type = try resolveStruct(entry)
            guard structs.updateValue(type, forKey: type.name) == nil, enums[type.name] == nil else {
                throw SpecError("type \(type.name) declared twice")
            }
            resolvedStructs.append(type)
        }
        let protocols = try file.protocols.map { entry throws(SpecError) in try resolveProtocol(entry) }
        try checkUnique(protocols.map(\.name), "protocol")
        try checkUnique(protocols.flatMap { $0.messages.map { String($0.ordinal) } }, "ordinal")

        let mesaApi = try MesaApi(file.mesaApi, status: enums["status"])
        return ProtocolSpec(
            name: file.name, doc: file.doc, wireFormat: file.wireFormat,
            maxMessageBytes: file.limits.maxMessageBytes, maxHandles: file.limits.maxHandles,
            enums: resolvedEnums, constants: constants, cTypedefs: file.cTypedefs, cStructs: file.cStructs,
            structs: resolvedStructs, protocols: protocols, mesaApi: mesaApi)
    }

    func resolveEnum(_ entry: SpecFile.EnumEntry) throws(SpecError) -> EnumType {
        try checkName(entry.name)
        guard let kind = EnumType.Kind(rawValue: entry.kind) else { throw SpecError("enum \(entry.name): unknown kind '\(entry.kind)'") }
        guard let scalar = Scalar(rawValue: entry.type), scalar != .bool else {
            throw SpecError("enum \(entry.name): type must be an integer, not '\(entry.type)'")
        }
        guard entry.swift != nil || entry.c != nil else { throw SpecError("enum \(entry.name) is emitted nowhere: give swift or c") }
        guard !entry.members.isEmpty else { throw SpecError("enum \(entry.name) has no members") }
        try checkUnique(entry.members.map(\.name), "member of \(entry.name)")
        try checkUnique(entry.members.map { String($0.value) }, "value of \(entry.name)")
        for member in entry.members {
            try checkName(member.name)
            guard scalar.holds(member.value) else { throw SpecError("\(entry.name).\(member.name): \(member.value) does not fit \(scalar)") }
            if kind == .bits, member.value <= 0 || member.value & (member.value - 1) != 0 {
                throw SpecError("\(entry.name).\(member.name): a bits member must be one bit")
            }
        }
        return EnumType(
            name: entry.name, swiftName: entry.swift, kind: kind, scalar: scalar,
            cType: entry.c?.type, cPrefix: entry.c?.prefix, doc: entry.doc,
            members: entry.members.map { EnumType.Member(name: $0.name, value: $0.value, doc: $0.doc) })
    }

    func resolveConstant(_ entry: SpecFile.ConstantEntry) throws(SpecError) -> Constant {
        try checkName(entry.name)
        guard entry.c != nil || entry.swift != nil else { throw SpecError("constant \(entry.name) is emitted nowhere: give swift or c") }
        switch entry.value {
        case .integer(let value):
            guard let scalar = Scalar(rawValue: entry.type), scalar.holds(value) else {
                throw SpecError("constant \(entry.name): \(value) is not a valid '\(entry.type)'")
            }
        case .string:
            guard entry.type == "string" else { throw SpecError("constant \(entry.name): a string value needs type string") }
        }
        return Constant(name: entry.name, type: entry.type, value: entry.value, cName: entry.c,
                        swiftName: entry.swift, swiftType: entry.swiftType, doc: entry.doc)
    }

    func checkCStructs() throws(SpecError) {
        try checkUnique(file.cStructs.map(\.name) + file.cTypedefs.map(\.name), "C type")
        for entry in file.cStructs {
            for field in entry.fields {
                let members = field.union ?? [field]
                guard field.union == nil || (field.name == nil && field.type == nil) else {
                    throw SpecError("\(entry.name): a union entry has only 'union'")
                }
                for member in members where member.name == nil || member.type == nil || member.doc == nil {
                    throw SpecError("\(entry.name): every C field needs name, type and doc")
                }
            }
        }
    }

    func resolveStruct(_ entry: SpecFile.StructEntry) throws(SpecError) -> StructType {
        try checkName(entry.name)
        let fields = try resolveFields(entry.fields, version: entry.version, owner: entry.name, allowHandles: false)
        return StructType(name: entry.name, swiftName: entry.swift, version: entry.version, doc: entry.doc, fields: fields)
    }

    func resolveProtocol(_ entry: SpecFile.ProtocolEntry) throws(SpecError) -> ProtocolDefinition {
        try checkName(entry.name)
        try checkUnique(entry.messages.map(\.name), "message of \(entry.name)")
        let messages = try entry.messages.map { message throws(SpecError) -> Message in
            let owner = "\(entry.name).\(message.name)"
            try checkName(message.name)
            guard let side = Message.Side(rawValue: message.from) else { throw SpecError("\(owner): from must be client or server") }
            guard (entry.ordinalBase..<(entry.ordinalBase + 256)).contains(message.ordinal) else {
                throw SpecError("\(owner): ordinal \(message.ordinal) outside its protocol's range \(entry.ordinalBase)...")
            }
            if let reply = message.reply {
                guard let target = entry.messages.first(where: { $0.name == reply }), target.from != message.from else {
                    throw SpecError("\(owner): reply '\(reply)' must be a message of the same protocol sent the other way")
                }
            }
            let fields = try resolveFields(message.fields, version: message.version, owner: owner, allowHandles: true)
            return Message(protocolName: entry.name, name: message.name, ordinal: message.ordinal, from: side,
                           version: message.version, reply: message.reply, doc: message.doc, fields: fields)
        }
        return ProtocolDefinition(name: entry.name, swiftName: entry.swift, ordinalBase: entry.ordinalBase, doc: entry.doc, messages: messages)
    }

    /// Fields are appended only: `since` never decreases, so every older layout is a prefix.
    func resolveFields(_ entries: [SpecFile.FieldEntry], version: Int, owner: String, allowHandles: Bool) throws(SpecError) -> [Field] {
        guard (1...Int(UInt16.max)).contains(version) else { throw SpecError("\(owner): version must be 1...65535") }
        try checkUnique(entries.map(\.name), "field of \(owner)")
        var previousSince = 1
        var typed: [(name: String, type: FieldType)] = []
        for entry in entries {
            let where_ = "\(owner).\(entry.name)"
            try checkName(entry.name)
            guard (previousSince...version).contains(entry.since) else {
                throw SpecError("\(where_): since \(entry.since) must be \(previousSince)...\(version); new fields go last")
            }
            previousSince = entry.since
            let type = try resolveType(entry.type, limit: entry.max, at: where_)
            if type.isHandle, !allowHandles { throw SpecError("\(where_): handles travel only in message fields") }
            if case .structure(let inner) = type, inner.version > 1 {
                throw SpecError("\(where_): struct \(inner.name) has grown (version \(inner.version)); only vectors may hold it")
            }
            try checkDefault(entry, type: type, at: where_)
            typed.append((entry.name, type))
        }
        if !entries.isEmpty || version > 1 {
            guard entries.map(\.since).max() == version else { throw SpecError("\(owner): version \(version) but no field is that new") }
        }
        let offsets = WireLayout.place(typed)
        return zip(entries, zip(typed, offsets)).map { entry, placed in
            Field(name: entry.name, type: placed.0.type, since: entry.since, defaultValue: entry.default, doc: entry.doc, offset: placed.1)
        }
    }

    /// A field added after version 1 must say what older senders mean; nothing else may.
    func checkDefault(_ entry: SpecFile.FieldEntry, type: FieldType, at where_: String) throws(SpecError) {
        switch type {
        case .scalar(let scalar):
            if let value = entry.default, !scalar.holds(value) { throw SpecError("\(where_): default does not fit \(scalar)") }
            if entry.since > 1, entry.default == nil { throw SpecError("\(where_): a field added after version 1 needs a default") }
        case .enumeration(let enumType):
            if entry.since > 1, entry.default == nil { throw SpecError("\(where_): a field added after version 1 needs a default") }
            if let value = entry.default {
                guard enumType.scalar.holds(value), enumType.kind != .closed || enumType.members.contains(where: { $0.value == value }) else {
                    throw SpecError("\(where_): default \(value) is not a \(enumType.name)")
                }
            }
        case .handle(_, let optional):
            guard entry.default == nil else { throw SpecError("\(where_): a handle has no default") }
            if entry.since > 1, !optional { throw SpecError("\(where_): a handle added after version 1 must be optional") }
        case .structure:
            guard entry.default == nil else { throw SpecError("\(where_): a struct has no default") }
            if entry.since > 1 { throw SpecError("\(where_): a struct field cannot be added after version 1") }
        case .vector, .bytes, .string:
            guard entry.default == nil else { throw SpecError("\(where_): a vector defaults to empty") }
        }
    }

    /// Parses `u32`, `bool`, `bytes`, `string`, `vector<T>`, `handle<kind>`, `handle<kind>?`
    /// and enum or struct names.
    func resolveType(_ text: String, limit: Int?, at where_: String) throws(SpecError) -> FieldType {
        func needLimit() throws(SpecError) -> Int {
            guard let limit, limit > 0, limit <= file.limits.maxMessageBytes else {
                throw SpecError("\(where_): '\(text)' needs a max between 1 and maxMessageBytes")
            }
            return limit
        }
        if let scalar = Scalar(rawValue: text) {
            guard limit == nil else { throw SpecError("\(where_): max applies to vectors only") }
            return .scalar(scalar)
        }
        if text == "bytes" { return .bytes(limit: try needLimit()) }
        if text == "string" { return .string(limit: try needLimit()) }
        if text.hasPrefix("vector<"), text.hasSuffix(">") {
            let element = String(text.dropFirst("vector<".count).dropLast())
            let limit = try needLimit()
            if let scalar = Scalar(rawValue: element), scalar != .bool { return .vector(.scalar(scalar), limit: limit) }
            if let type = structs[element] { return .vector(.structure(type), limit: limit) }
            throw SpecError("\(where_): vectors hold integers or structs, not '\(element)'")
        }
        if text.hasPrefix("handle<") {
            let optional = text.hasSuffix(">?")
            guard text.hasSuffix(">") || optional else { throw SpecError("\(where_): bad handle type '\(text)'") }
            let kind = String(text.dropFirst("handle<".count).dropLast(optional ? 2 : 1))
            guard ["buffer", "semaphore", "object", "channel", "token"].contains(kind) else {
                throw SpecError("\(where_): unknown handle kind '\(kind)'")
            }
            return .handle(kind: kind, optional: optional)
        }
        guard limit == nil else { throw SpecError("\(where_): max applies to vectors only") }
        if let type = enums[text] {
            guard type.swiftName != nil else { throw SpecError("\(where_): enum \(text) has no Swift name, so no message may use it") }
            return .enumeration(type)
        }
        if let type = structs[text] { return .structure(type) }
        throw SpecError("\(where_): unknown type '\(text)'")
    }

    func checkName(_ name: String) throws(SpecError) {
        guard let first = name.first, first.isLowercase, name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }) else {
            throw SpecError("'\(name)': names are snake_case")
        }
    }

    func checkUnique(_ names: [String], _ what: String) throws(SpecError) {
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted { throw SpecError("\(what) '\(name)' appears twice") }
    }
}
