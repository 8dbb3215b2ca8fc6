/// Writes `MagmaWire`'s generated codecs: a `WireStruct` conformance per struct and, per
/// protocol, a type per message plus an enum per direction.
struct SwiftCodecEmitter {
    let spec: ProtocolSpec

    func renderStructs() -> String {
        var writer = CodeWriter()
        writer.line(Banner.text(comment: "//"))
        writer.line("import MagmaProtocol")
        for type in spec.structs { writeStruct(type, &writer) }
        return writer.text
    }

    func render(_ definition: ProtocolDefinition) -> String {
        var writer = CodeWriter()
        writer.line(Banner.text(comment: "//"))
        writer.line("import MagmaProtocol")
        writer.line()
        writer.doc(definition.doc)
        writer.line("public enum \(definition.swiftName) {}")
        for message in definition.messages { writeMessage(message, in: definition, &writer) }
        for side in [Message.Side.client, .server] {
            let messages = definition.messages.filter { $0.from == side }
            if !messages.isEmpty { writeDirection(side, messages, in: definition, &writer) }
        }
        return writer.text
    }

    // MARK: Structs

    private func writeStruct(_ type: StructType, _ writer: inout CodeWriter) {
        writer.line()
        writer.line("extension \(type.swiftName): WireStruct {")
        writer.indented { writer in
            writer.line("public static let wireSize = \(type.size)")
            writer.line("public static let minimumWireSize = \(type.minimumSize)")
            writer.line()
            writer.line("public func encode(into encoder: inout WireEncoder, at base: Int) throws(WireError) {")
            writer.indented { writer in
                for field in type.fields { writer.line(encode(field, owner: type.name, at: relative(field.offset))) }
            }
            writer.line("}")
            writer.line()
            writer.line("public init(decoding decoder: inout WireDecoder, at base: Int, size: Int) throws(WireError) {")
            writer.indented { writer in
                // The struct is declared in MagmaProtocol, so this initializer delegates.
                for field in type.fields {
                    let read = decode(field, owner: type.name, at: relative(field.offset))
                    if field.since == 1 {
                        writer.line("let \(field.swiftName): \(field.type.swiftType) = \(read)")
                    } else {
                        let end = field.offset + field.type.inlineSize
                        writer.line("let \(field.swiftName): \(field.type.swiftType) = try size >= \(end) ? \(read.dropTry) : \(field.swiftDefault ?? "?")")
                    }
                }
                let arguments = type.fields.map { "\($0.swiftName): \($0.swiftName)" }.joined(separator: ", ")
                writer.line("self.init(\(arguments))")
            }
            writer.line("}")
        }
        writer.line("}")
    }

    private func relative(_ offset: Int) -> String { offset == 0 ? "base" : "base + \(offset)" }

    // MARK: Messages

    private func writeMessage(_ message: Message, in definition: ProtocolDefinition, _ writer: inout CodeWriter) {
        let owner = "\(definition.name).\(message.name)"
        writer.line()
        writer.line("extension \(definition.swiftName) {")
        writer.indented { writer in
            var doc = message.doc
            if let reply = message.reply { doc += " Answered by `\(Naming.pascal(reply))`." }
            writer.doc(doc)
            writer.line("public struct \(Naming.pascal(message.name)): WireMessage {")
            writer.indented { writer in
                writer.line("public static let ordinal: UInt32 = \(message.ordinal)")
                writer.line("public static let version: UInt16 = \(message.version)")
                writer.line("public static let name = \"\(owner)\"")
                writer.line()
                writer.properties(message.fields)
                if !message.fields.isEmpty { writer.line() }
                writer.memberwiseInit(message.fields)
                writer.line()
                writeInlineSize(message, &writer)
                writer.line()
                writeEncode(message, owner: owner, &writer)
                writer.line()
                writeDecode(message, owner: owner, &writer)
            }
            writer.line("}")
        }
        writer.line("}")
    }

    private func writeInlineSize(_ message: Message, _ writer: inout CodeWriter) {
        writer.line("public static func inlineSize(at version: UInt16) -> Int {")
        writer.indented { writer in
            let versions = Set(message.fields.map(\.since)).sorted(by: >)
            for version in versions where version > 1 {
                writer.line("if version >= \(version) { return \(message.inlineSize(at: version)) }")
            }
            writer.line("return \(message.inlineSize(at: 1))")
        }
        writer.line("}")
    }

    private func writeEncode(_ message: Message, owner: String, _ writer: inout CodeWriter) {
        writer.line("public func encode(into encoder: inout WireEncoder, version: UInt16) throws(WireError) {")
        writer.indented { writer in
            for field in message.fields {
                let statement = encode(field, owner: owner, at: "\(WireLayout.headerSize + field.offset)")
                writer.line(field.since == 1 ? statement : "if version >= \(field.since) { \(statement) }")
            }
        }
        writer.line("}")
    }

    private func writeDecode(_ message: Message, owner: String, _ writer: inout CodeWriter) {
        writer.line("public init(decoding decoder: inout WireDecoder, version: UInt16) throws(WireError) {")
        writer.indented { writer in
            for field in message.fields {
                let read = decode(field, owner: owner, at: "\(WireLayout.headerSize + field.offset)")
                if field.since == 1 {
                    writer.line("self.\(field.swiftName) = \(read)")
                } else {
                    writer.line("self.\(field.swiftName) = try version >= \(field.since) ? \(read.dropTry) : \(field.swiftDefault ?? "?")")
                }
            }
        }
        writer.line("}")
    }

    private func writeDirection(_ side: Message.Side, _ messages: [Message], in definition: ProtocolDefinition, _ writer: inout CodeWriter) {
        let name = side == .client ? "ClientMessage" : "ServerMessage"
        writer.line()
        writer.line("extension \(definition.swiftName) {")
        writer.indented { writer in
            writer.line("/// Every message the \(side.rawValue) sends on this protocol.")
            writer.line("public enum \(name): Hashable, Sendable {")
            writer.indented { writer in
                for message in messages {
                    writer.line("case \(Naming.camel(message.name))(\(Naming.pascal(message.name)))")
                }
                writer.line()
                writer.line("/// Decodes any of these messages; an ordinal of another direction or protocol is `unknownOrdinal`.")
                writer.line("public static func decode(bytes: [UInt8], handles: [WireHandle] = []) throws(WireError) -> Received<\(name)> {")
                writer.indented { writer in
                    writer.line("var decoder = try WireDecoder(bytes: bytes, handles: handles)")
                    writer.line("let message: \(name)")
                    writer.line("switch decoder.header.ordinal {")
                    for message in messages {
                        let type = Naming.pascal(message.name)
                        writer.line("case \(type).ordinal: message = .\(Naming.camel(message.name))(try decoder.decodeBody(\(type).self))")
                    }
                    writer.line("default: throw .unknownOrdinal(decoder.header.ordinal)")
                    writer.line("}")
                    writer.line("return Received(message: message, header: decoder.header, unclaimedHandles: decoder.unclaimedHandles)")
                }
                writer.line("}")
                writer.line()
                writer.line("/// The message, as its own type.")
                writer.line("public var message: any WireMessage {")
                writer.indented { writer in
                    writer.line("switch self {")
                    for message in messages { writer.line("case .\(Naming.camel(message.name))(let message): message") }
                    writer.line("}")
                }
                writer.line("}")
                writer.line()
                writer.line("/// Encodes the message in its newest layout.")
                writer.line("public func encoded(transactionId: UInt32 = 0) throws(WireError) -> EncodedMessage {")
                writer.indented { writer in
                    writer.line("switch self {")
                    for message in messages {
                        writer.line("case .\(Naming.camel(message.name))(let message): try message.encoded(transactionId: transactionId)")
                    }
                    writer.line("}")
                }
                writer.line("}")
            }
            writer.line("}")
        }
        writer.line("}")
    }

    // MARK: Fields

    private func encode(_ field: Field, owner: String, at offset: String) -> String {
        let value = "self.\(field.swiftName)"
        let name = "\"\(owner).\(field.name)\""
        switch field.type {
        case .scalar: return "encoder.put(\(value), at: \(offset))"
        case .enumeration: return "encoder.put(\(value).rawValue, at: \(offset))"
        case .structure: return "try \(value).encode(into: &encoder, at: \(offset))"
        case .vector(.structure, let limit): return "try encoder.put(structs: \(value), at: \(offset), field: \(name), limit: \(limit))"
        case .vector(_, let limit): return "try encoder.put(vector: \(value), at: \(offset), field: \(name), limit: \(limit))"
        case .bytes(let limit): return "try encoder.put(bytes: \(value), at: \(offset), field: \(name), limit: \(limit))"
        case .string(let limit): return "try encoder.put(string: \(value), at: \(offset), field: \(name), limit: \(limit))"
        case .handle: return "try encoder.put(handle: \(value), at: \(offset))"
        }
    }

    private func decode(_ field: Field, owner: String, at offset: String) -> String {
        let name = "\"\(owner).\(field.name)\""
        switch field.type {
        case .scalar(.bool): return "try decoder.bool(at: \(offset), field: \(name))"
        case .scalar(let scalar): return "try decoder.load(\(scalar.swiftType).self, at: \(offset))"
        case .enumeration(let type): return "try decoder.value(\(type.swiftName ?? "?").self, at: \(offset))"
        case .structure(let type): return "try \(type.swiftName)(decoding: &decoder, at: \(offset), size: \(type.swiftName).wireSize)"
        case .vector(.structure, let limit): return "try decoder.structs(at: \(offset), field: \(name), limit: \(limit))"
        case .vector(_, let limit): return "try decoder.vector(at: \(offset), field: \(name), limit: \(limit))"
        case .bytes(let limit): return "try decoder.bytes(at: \(offset), field: \(name), limit: \(limit))"
        case .string(let limit): return "try decoder.string(at: \(offset), field: \(name), limit: \(limit))"
        case .handle(_, false): return "try decoder.handle(at: \(offset), field: \(name))"
        case .handle(_, true): return "try decoder.optionalHandle(at: \(offset), field: \(name))"
        }
    }
}

private extension String {
    /// The expression without its leading `try `, for use under an outer `try`.
    var dropTry: String { hasPrefix("try ") ? String(dropFirst(4)) : self }
}
