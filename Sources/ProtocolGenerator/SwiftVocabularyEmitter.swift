/// Writes `MagmaProtocol`'s generated vocabulary: limits, enums, flag sets, constants and the
/// structs that travel in messages.
struct SwiftVocabularyEmitter {
    let spec: ProtocolSpec

    func render() -> String {
        var writer = CodeWriter()
        writer.line(Banner.text(comment: "//"))
        writeLimits(&writer)
        for type in spec.enums where type.swiftName != nil { writeEnum(type, &writer) }
        for constant in spec.constants where constant.swiftName != nil { writeConstant(constant, &writer) }
        for type in spec.structs { writeStruct(type, &writer) }
        return writer.text
    }

    private func writeLimits(_ writer: inout CodeWriter) {
        writer.line("/// Limits of the wire protocol.")
        writer.line("public enum ProtocolLimits {")
        writer.indented { writer in
            writer.line("/// The wire format this code speaks.")
            writer.line("public static let wireFormat: UInt8 = \(spec.wireFormat)")
            writer.line("/// The largest message, header included, in bytes.")
            writer.line("public static let maxMessageBytes = \(spec.maxMessageBytes)")
            writer.line("/// The most handles (file descriptors) one message carries.")
            writer.line("public static let maxHandles = \(spec.maxHandles)")
        }
        writer.line("}")
    }

    private func writeEnum(_ type: EnumType, _ writer: inout CodeWriter) {
        guard let name = type.swiftName else { return }
        let raw = type.scalar.swiftType
        writer.line()
        writer.doc(type.doc)
        switch type.kind {
        case .closed:
            writer.line("public enum \(name): \(raw), Sendable, CaseIterable {")
            writer.indented { writer in
                for member in type.members {
                    writer.doc(member.doc)
                    writer.line("case \(Naming.camel(member.name)) = \(member.value)")
                }
            }
        case .open, .bits:
            let conformance = type.kind == .bits ? "OptionSet" : "RawRepresentable"
            writer.line("public struct \(name): \(conformance), Hashable, Sendable {")
            writer.indented { writer in
                writer.line("public let rawValue: \(raw)")
                writer.line("public init(rawValue: \(raw)) { self.rawValue = rawValue }")
                for member in type.members {
                    writer.doc(member.doc)
                    writer.line("public static let \(Naming.camel(member.name)) = \(name)(rawValue: \(member.value))")
                }
                if type.kind == .bits {
                    writer.line("/// Every flag the protocol defines.")
                    writer.line("public static let known: \(name) = [\(type.members.map { "." + Naming.camel($0.name) }.joined(separator: ", "))]")
                }
            }
        }
        writer.line("}")
    }

    private func writeConstant(_ constant: Constant, _ writer: inout CodeWriter) {
        guard let swiftName = constant.swiftName else { return }
        let type = constant.swiftType ?? Scalar(rawValue: constant.type)?.swiftType ?? "String"
        let value = switch constant.value {
        case .integer(let number): "\(number)"
        case .string(let text): "\"\(text)\""
        }
        writer.line()
        let parts = swiftName.split(separator: ".")
        if parts.count == 2 {
            writer.line("extension \(parts[0]) {")
            writer.indented { writer in
                writer.doc(constant.doc)
                writer.line("public static let \(parts[1]): \(type) = \(value)")
            }
            writer.line("}")
        } else {
            writer.doc(constant.doc)
            writer.line("public let \(swiftName): \(type) = \(value)")
        }
    }

    private func writeStruct(_ type: StructType, _ writer: inout CodeWriter) {
        writer.line()
        writer.doc(type.doc)
        writer.line("public struct \(type.swiftName): Hashable, Sendable {")
        writer.indented { writer in
            writer.properties(type.fields)
            writer.line()
            writer.memberwiseInit(type.fields)
        }
        writer.line("}")
    }
}
