/// Writes `include/magma_common_defs.h`: the C API's typedefs, status codes, query ids, flags,
/// constants and structs, with Fuchsia's names and layouts.
struct CHeaderEmitter {
    let spec: ProtocolSpec

    func render() -> String {
        var writer = CodeWriter(indent: "  ")
        CHeaderFrame.open(guard: "MAGMA_COMMON_DEFS_H_", &writer)
        for typedef in spec.cTypedefs {
            writer.line()
            writer.doc(typedef.doc, marker: "//")
            writer.line("typedef \(typedef.type) \(typedef.name);")
        }
        for type in spec.enums { writeEnum(type, &writer) }
        for constant in spec.constants { writeConstant(constant, &writer) }
        for type in spec.cStructs { writeStruct(type, &writer) }
        CHeaderFrame.close(guard: "MAGMA_COMMON_DEFS_H_", &writer)
        return writer.text
    }

    /// `((type)value)`: the form Swift's importer also reads.
    static func literal(_ value: Int64, type: String, hex: Bool) -> String {
        let digits = hex && value >= 0 ? "0x" + String(value, radix: 16) : String(value)
        return "((\(type))\(digits))"
    }

    private func writeEnum(_ type: EnumType, _ writer: inout CodeWriter) {
        guard let cType = type.cType, let prefix = type.cPrefix else { return }
        writer.line()
        writer.doc(type.doc, marker: "//")
        if cType.hasPrefix("magma_") { writer.line("typedef \(type.scalar.cType) \(cType);") }
        for member in type.members {
            writer.doc(member.doc, marker: "//")
            let value = CHeaderEmitter.literal(member.value, type: cType, hex: type.kind == .bits)
            writer.line("#define \(prefix)\(Naming.upper(member.name)) \(value)")
        }
    }

    private func writeConstant(_ constant: Constant, _ writer: inout CodeWriter) {
        guard let name = constant.cName else { return }
        writer.line()
        writer.doc(constant.doc, marker: "//")
        switch constant.value {
        case .integer(let value):
            let type = Scalar(rawValue: constant.type)?.cType ?? constant.type
            writer.line("#define \(name) \(CHeaderEmitter.literal(value, type: type, hex: false))")
        case .string(let text):
            writer.line("#define \(name) \"\(text)\"")
        }
    }

    private func writeStruct(_ type: SpecFile.CStructEntry, _ writer: inout CodeWriter) {
        writer.line()
        writer.doc(type.doc, marker: "//")
        writer.line("typedef struct \(type.name) {")
        writer.indented { writer in
            for field in type.fields {
                if let members = field.union {
                    writer.line("union {")
                    writer.indented { writer in
                        for member in members { writeField(member, &writer) }
                    }
                    writer.line("};")
                } else {
                    writeField(field, &writer)
                }
            }
        }
        let attribute = type.aligned.map { " __attribute__((__aligned__(\($0))))" } ?? ""
        writer.line("}\(attribute) \(type.name)_t;")
    }

    private func writeField(_ field: SpecFile.CFieldEntry, _ writer: inout CodeWriter) {
        writer.doc(field.doc ?? "", marker: "//")
        let type = field.type ?? "?"
        let separator = type.hasSuffix("*") ? "" : " "
        writer.line("\(type)\(separator)\(field.name ?? "?");")
    }
}
