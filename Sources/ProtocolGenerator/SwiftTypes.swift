/// Swift spellings of spec types and values, shared by the Swift emitters.
extension FieldType {
    var swiftType: String {
        switch self {
        case .scalar(let scalar): scalar.swiftType
        case .enumeration(let type): type.swiftName ?? "?"
        case .structure(let type): type.swiftName
        case .vector(let element, _): "[\(element.swiftType)]"
        case .bytes: "[UInt8]"
        case .string: "String"
        case .handle(_, let optional): optional ? "WireHandle?" : "WireHandle"
        }
    }

    /// How the spec writes the type, for documentation.
    var specName: String {
        switch self {
        case .scalar(let scalar): scalar.rawValue
        case .enumeration(let type): type.name
        case .structure(let type): type.name
        case .vector(let element, let limit): "vector<\(element.specName)>:\(limit)"
        case .bytes(let limit): "bytes:\(limit)"
        case .string(let limit): "string:\(limit)"
        case .handle(let kind, let optional): "handle<\(kind)>" + (optional ? "?" : "")
        }
    }
}

extension Field {
    var swiftName: String { Naming.camel(name) }

    /// The value a peer that predates this field means, or an empty value; nil if none.
    var swiftDefault: String? {
        if let value = defaultValue {
            switch type {
            case .scalar(.bool): return value != 0 ? "true" : "false"
            case .enumeration(let type):
                if let member = type.members.first(where: { $0.value == value }) { return ".\(Naming.camel(member.name))" }
                return "\(type.swiftName ?? "?")(rawValue: \(value))"
            default: return "\(value)"
            }
        }
        switch type {
        case .vector, .bytes: return "[]"
        case .string: return "\"\""
        case .handle(_, true): return "nil"
        default: return nil
        }
    }

    /// `name: Type` or `name: Type = default`, for a memberwise initializer.
    var swiftParameter: String {
        "\(swiftName): \(type.swiftType)" + (swiftDefault.map { " = \($0)" } ?? "")
    }
}

extension CodeWriter {
    /// A public memberwise initializer.
    mutating func memberwiseInit(_ fields: [Field]) {
        if fields.isEmpty {
            line("public init() {}")
            return
        }
        line("public init(\(fields.map(\.swiftParameter).joined(separator: ", "))) {")
        indented { writer in
            for field in fields { writer.line("self.\(field.swiftName) = \(field.swiftName)") }
        }
        line("}")
    }

    /// Documented stored properties.
    mutating func properties(_ fields: [Field]) {
        for field in fields {
            doc(field.since > 1 ? "\(field.doc) (Since version \(field.since).)" : field.doc)
            line("public var \(field.swiftName): \(field.type.swiftType)")
        }
    }
}
