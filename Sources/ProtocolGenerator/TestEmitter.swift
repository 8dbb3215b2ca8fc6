/// Writes the generated tests: a sample of every message (for round trips and malformed-input
/// tests) and checks that the C header's constants and struct layouts agree with the spec.
struct TestEmitter {
    let spec: ProtocolSpec

    // MARK: Samples

    func renderSamples() -> String {
        var writer = CodeWriter()
        writer.line(Banner.text(comment: "//"))
        writer.line("import MagmaProtocol")
        writer.line("import MagmaWire")
        writer.line("import SystemPackage")
        writer.line()
        writer.line("/// One instance of every message, each field set to a value other than its default.")
        writer.line("enum SpecSamples {")
        writer.indented { writer in
            var counter = SampleCounter()
            var lists: [String] = []
            for definition in spec.protocols {
                for side in [Message.Side.client, .server] {
                    let messages = definition.messages.filter { $0.from == side }
                    guard !messages.isEmpty else { continue }
                    let enumName = side == .client ? "ClientMessage" : "ServerMessage"
                    let list = Naming.camel(definition.name) + (side == .client ? "Client" : "Server")
                    lists.append(list)
                    writer.line("static let \(list): [\(definition.swiftName).\(enumName)] = [")
                    writer.indented { writer in
                        for message in messages {
                            let arguments = message.fields.map { "\($0.swiftName): \(counter.sample($0.type))" }
                            writer.line(".\(Naming.camel(message.name))(.init(\(arguments.joined(separator: ", ")))),")
                        }
                    }
                    writer.line("]")
                }
            }
            writer.line()
            writer.line("/// Every sample, as its message type.")
            writer.line("static let messages: [any WireMessage] =")
            writer.indented { writer in
                writer.line(lists.map { "\($0).map(\\.message)" }.joined(separator: " + "))
            }
        }
        writer.line("}")
        return writer.text
    }

    // MARK: C agreement

    func renderCAgreement() -> String {
        var writer = CodeWriter()
        writer.line(Banner.text(comment: "//"))
        writer.line("import CMagma")
        writer.line("import MagmaProtocol")
        writer.line("import Testing")
        writer.line()
        writer.line("@Suite(\"magma_common_defs.h agrees with the spec and the Swift vocabulary\")")
        writer.line("struct CHeaderAgreementTests {")
        writer.indented { writer in
            writer.line("@Test func enumValues() {")
            writer.indented { writer in
                for type in spec.enums {
                    guard let prefix = type.cPrefix else { continue }
                    for member in type.members {
                        let cName = prefix + Naming.upper(member.name)
                        writer.line("#expect(Int64(\(cName)) == \(member.value))")
                        if let swift = type.swiftName {
                            writer.line("#expect(\(swift).\(Naming.camel(member.name)).rawValue == \(cName))")
                        }
                    }
                }
            }
            writer.line("}")
            writer.line()
            writer.line("@Test func constants() {")
            writer.indented { writer in
                for constant in spec.constants {
                    guard let cName = constant.cName else { continue }
                    switch constant.value {
                    case .integer(let value):
                        writer.line("#expect(Int64(\(cName)) == \(value))")
                        if let swift = constant.swiftName { writer.line("#expect(Int64(\(swift)) == Int64(\(cName)))") }
                    case .string(let text):
                        writer.line("#expect(\(cName) == \"\(text)\")")
                    }
                }
            }
            writer.line("}")
            writer.line()
            writer.line("@Test func structLayouts() {")
            writer.indented { writer in
                for type in spec.cStructs {
                    writer.line("#expect(MemoryLayout<\(type.name)_t>.size == \(type.size))")
                    writer.line("#expect(MemoryLayout<\(type.name)_t>.alignment == \(type.alignment))")
                }
            }
            writer.line("}")
        }
        writer.line("}")
        return writer.text
    }
}

/// Distinct, non-default sample values, deterministic from run to run.
private struct SampleCounter {
    private var next: Int64 = 1

    mutating func sample(_ type: FieldType) -> String {
        next += 1
        switch type {
        case .scalar(.bool): return "true"
        case .scalar(let scalar) where scalar.isSigned: return "-\(next)"
        case .scalar(let scalar):
            let high: Int64 = scalar.size >= 4 ? 1 << (scalar.size * 8 - 9) : 0
            return "\(high + next)"
        case .enumeration(let type):
            let name = type.swiftName ?? "?"
            switch type.kind {
            case .bits: return "[" + type.members.map { "." + Naming.camel($0.name) }.joined(separator: ", ") + "]"
            case .closed, .open: return "\(name).\(Naming.camel(type.members.last?.name ?? ""))"
            }
        case .structure(let type):
            let arguments = type.fields.map { "\($0.swiftName): \(sample($0.type))" }
            return "\(type.swiftName)(\(arguments.joined(separator: ", ")))"
        case .vector(let element, _): return "[\(sample(element)), \(sample(element))]"
        case .bytes: return "[1, 2, 3]"
        case .string: return "\"sample\""
        case .handle: return "WireHandle(FileDescriptor(rawValue: \(Int32(next % 1000))))"
        }
    }
}
