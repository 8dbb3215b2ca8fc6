/// Writes the primary protocol's request vocabulary once, from the spec: `PrimaryRequests`
/// (MagmaProtocol: one requirement per feed-forward request, with the spec's docs), and in
/// MagmaWire the encode side (`PrimaryRequestSender`: each requirement sends its message) and
/// the decode-to-call side (`PrimaryProtocol.ClientMessage.dispatch(to:)`).
struct RequestsEmitter {
    let spec: ProtocolSpec

    /// The protocol whose requests are rendered.
    static let protocolName = "primary"

    private var definition: ProtocolDefinition? { spec.protocols.first { $0.name == Self.protocolName } }
    /// Client messages nothing answers.
    private var requests: [Message] { definition?.messages.filter { $0.from == .client && $0.reply == nil } ?? [] }
    /// Client messages that are answered: the caller's own, never dispatched.
    private var calls: [Message] { definition?.messages.filter { $0.from == .client && $0.reply != nil } ?? [] }

    private func type(of field: Field) -> String {
        if case .handle(_, let optional) = field.type { return optional ? "Handle?" : "Handle" }
        return field.type.swiftType
    }

    private func parameters(_ message: Message) -> String {
        message.fields.map { "\($0.swiftName): \(type(of: $0))" }.joined(separator: ", ")
    }

    private func requirementDoc(_ message: Message) -> String {
        guard !message.fields.isEmpty else { return message.doc }
        return message.doc + "\n" + message.fields.map { "- Parameter \($0.swiftName): \($0.doc)" }.joined(separator: "\n")
    }

    /// `Sources/MagmaProtocol/Generated/PrimaryRequests.swift`.
    func renderProtocol() -> String {
        var writer = CodeWriter()
        writer.line(Banner.text(comment: "//"))
        writer.doc("The feed-forward requests of the primary protocol, one requirement per request of "
            + "protocol/magma.json, in its order. A client sends them (MagmaWire's `PrimaryRequestSender` encodes "
            + "each), a server applies them (`PrimaryProtocol.ClientMessage.dispatch(to:)` calls them). Nothing "
            + "answers a request: one the system rejects closes the connection.")
        writer.line("public protocol PrimaryRequests<Handle> {")
        writer.indented { writer in
            writer.doc("How this side holds the handles requests carry: descriptor numbers on the wire, objects in a process.")
            writer.line("associatedtype Handle")
            for message in requests {
                writer.line()
                writer.doc(requirementDoc(message))
                writer.line("func \(Naming.camel(message.name))(\(parameters(message)))")
            }
        }
        writer.line("}")
        return writer.text
    }

    /// `Sources/MagmaWire/Generated/PrimaryRequestCoding.swift`.
    func renderCoding() -> String {
        var writer = CodeWriter()
        writer.line(Banner.text(comment: "//"))
        writer.line("import MagmaProtocol")
        writer.line()
        writer.doc("A client side of the primary protocol that sends each request as its message: it implements "
            + "`send`, and every requirement of `PrimaryRequests` comes with it.")
        writer.line("public protocol PrimaryRequestSender: PrimaryRequests where Handle: WireHandleConvertible {")
        writer.indented { writer in
            writer.doc("Sends one request; `handles` are the objects its handles stand for, alive until it returns.")
            writer.line("func send(_ message: PrimaryProtocol.ClientMessage, handles: [Handle])")
        }
        writer.line("}")
        writer.line()
        writer.line("extension PrimaryRequestSender {")
        writer.indented { writer in
            for message in requests {
                let name = Naming.camel(message.name)
                let arguments = message.fields.map { field in
                    field.type.isHandle ? "\(field.swiftName): \(field.swiftName).wireHandle" : "\(field.swiftName): \(field.swiftName)"
                }.joined(separator: ", ")
                let handles = message.fields.filter(\.type.isHandle).map(\.swiftName).joined(separator: ", ")
                if message.ordinal != requests.first?.ordinal { writer.line() }
                writer.doc("Sends `PrimaryProtocol.\(Naming.pascal(message.name))`.")
                writer.line("public func \(name)(\(parameters(message))) {")
                writer.indented { writer in
                    writer.line("send(.\(name)(.init(\(arguments))), handles: [\(handles)])")
                }
                writer.line("}")
            }
        }
        writer.line("}")
        writer.line()
        writer.line("extension PrimaryProtocol.ClientMessage {")
        writer.indented { writer in
            writer.doc("Calls the requirement of `requests` this request names, with its fields. False for a call "
                + "that is answered (\(calls.map { "`\(Naming.pascal($0.name))`" }.joined(separator: ", "))): the caller answers those itself.")
            writer.line("public func dispatch(to requests: some PrimaryRequests<WireHandle>) -> Bool {")
            writer.indented { writer in
                writer.line("switch self {")
                for message in requests {
                    let name = Naming.camel(message.name)
                    let arguments = message.fields.map { "\($0.swiftName): request.\($0.swiftName)" }.joined(separator: ", ")
                    writer.line(message.fields.isEmpty ? "case .\(name):" : "case .\(name)(let request):")
                    writer.indented { writer in
                        writer.line("requests.\(name)(\(arguments))")
                        writer.line("return true")
                    }
                }
                writer.line("case \(calls.map { ".\(Naming.camel($0.name))" }.joined(separator: ", ")):")
                writer.indented { writer in writer.line("return false") }
                writer.line("}")
            }
            writer.line("}")
        }
        writer.line("}")
        return writer.text
    }
}
