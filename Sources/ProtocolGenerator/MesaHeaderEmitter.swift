/// Writes the header of Mesa's API (`mesaApi.header`) and the C file that checks its layout at
/// compile time.
struct MesaHeaderEmitter {
    let api: MesaApi

    /// The include guard: the header's file name, upper-cased.
    private var guardName: String {
        let file = api.entry.header.split(separator: "/").last.map(String.init) ?? "magma_mesa.h"
        return file.uppercased().replacingOccurrences(of: ".", with: "_") + "_"
    }

    func render() -> String {
        var writer = CodeWriter(indent: "  ")
        CHeaderFrame.open(guard: guardName, &writer)
        writer.line()
        writer.doc(api.entry.doc, marker: "//")
        writer.line()
        for (part, value) in zip(["MAJOR", "MINOR", "PATCH"], api.entry.version) {
            writer.line("#define MAGMA_MESA_VERSION_\(part) \(value)")
        }
        writeStatus(&writer)
        for constant in api.entry.constants {
            writer.line()
            writer.doc(constant.doc, marker: "//")
            writer.line("#define \(constant.name) \(constant.value)")
        }
        for handle in api.entry.handles {
            writer.line()
            writer.doc(handle.doc, marker: "//")
            writer.line("typedef struct \(handle.name) *\(handle.name)_t;")
        }
        for type in api.entry.enums { writeEnum(type, &writer) }
        for type in api.entry.structs { writeStruct(type, &writer) }
        for function in api.entry.functions { writeFunction(function, &writer) }
        CHeaderFrame.close(guard: guardName, &writer)
        return writer.text
    }

    /// `_Static_assert`s that every extensible struct begins with s_type, size and next, in
    /// that order, as the extension rule needs.
    func renderLayoutChecks() -> String {
        var writer = CodeWriter(indent: "  ")
        writer.line(Banner.text(comment: "//"))
        writer.line("// Compiled with the CMagmaMesa target: the header must build warning-free, and every")
        writer.line("// extensible struct must begin with s_type, size and next.")
        writer.line()
        writer.line("#include <stddef.h>")
        writer.line()
        writer.line("#include \"\(api.entry.header.split(separator: "/").last ?? "")\"")
        writer.line()
        for type in api.entry.structs where type.extensible != nil {
            let name = type.name + "_t"
            writer.line("_Static_assert(offsetof(\(name), s_type) == 0 && offsetof(\(name), size) == 4 && offsetof(\(name), next) == 8,")
            writer.line("               \"\(name) begins with s_type, size and next\");")
        }
        return writer.text
    }

    /// A test that reads the header through Swift's importer: the status codes are
    /// `MagmaStatus`'s, every enum member and constant has the spec's value, and every
    /// extensible struct begins with s_type, size and next.
    func renderAgreementTests() -> String {
        var writer = CodeWriter()
        writer.line(Banner.text(comment: "//"))
        writer.line("import CMagmaMesa")
        writer.line("import MagmaProtocol")
        writer.line("import Testing")
        writer.line()
        writer.line("@Suite(\"\(api.entry.header.split(separator: "/").last ?? "") agrees with the spec\")")
        writer.line("struct MesaHeaderAgreementTests {")
        writer.indented { writer in
            writer.line("@Test func statusCodesAreMagmaStatus() {")
            writer.indented { writer in
                if let prefix = api.status.cPrefix, let swift = api.status.swiftName {
                    for member in api.status.members {
                        writer.line("#expect(\(swift).\(Naming.camel(member.name)).rawValue == \(prefix)\(Naming.upper(member.name)))")
                    }
                }
            }
            writer.line("}")
            writer.line()
            writer.line("@Test func enumsAndConstants() {")
            writer.indented { writer in
                for type in api.entry.enums {
                    for member in type.members { writer.line("#expect(UInt64(\(type.c.prefix)\(Naming.upper(member.name))) == \(member.value))") }
                }
                for constant in api.entry.constants { writer.line("#expect(Int64(\(constant.name)) == \(constant.value))") }
            }
            writer.line("}")
            writer.line()
            writer.line("@Test func extensibleStructsBeginWithTheirHeader() {")
            writer.indented { writer in
                for type in api.entry.structs where type.extensible != nil {
                    let name = type.name + "_t"
                    writer.line("#expect(MemoryLayout<\(name)>.offset(of: \\.s_type) == 0 && MemoryLayout<\(name)>.offset(of: \\.size) == 4 && MemoryLayout<\(name)>.offset(of: \\.next) == 8)")
                }
            }
            writer.line("}")
        }
        writer.line("}")
        return writer.text
    }

    private func writeStatus(_ writer: inout CodeWriter) {
        guard let cType = api.status.cType, let prefix = api.status.cPrefix else { return }
        writer.line()
        writer.doc(api.status.doc, marker: "//")
        writer.line("typedef \(api.status.scalar.cType) \(cType);")
        for member in api.status.members {
            writer.doc(member.doc, marker: "//")
            writer.line("#define \(prefix)\(Naming.upper(member.name)) \(CHeaderEmitter.literal(member.value, type: cType, hex: false))")
        }
    }

    private func writeEnum(_ type: MesaApiEntry.EnumEntry, _ writer: inout CodeWriter) {
        writer.line()
        writer.doc(type.doc, marker: "//")
        writer.line("typedef uint32_t \(type.c.type);")
        for member in type.members {
            writer.doc(member.doc, marker: "//")
            writer.line("#define \(type.c.prefix)\(Naming.upper(member.name)) \(CHeaderEmitter.literal(member.value, type: type.c.type, hex: type.kind == "bits"))")
        }
    }

    private func writeStruct(_ type: MesaApiEntry.StructEntry, _ writer: inout CodeWriter) {
        writer.line()
        writer.doc(type.doc, marker: "//")
        writer.line("typedef struct \(type.name) {")
        writer.indented { writer in
            if let direction = type.extensible {
                let stype = Naming.upper(String(type.name.dropFirst("magma_".count)))
                writer.line("// MAGMA_STRUCTURE_TYPE_\(stype).")
                writer.line("magma_structure_type_t s_type;")
                writer.line("// sizeof(\(type.name)_t) as the caller was compiled.")
                writer.line("uint32_t size;")
                writer.line("// Further structs, or NULL.")
                writer.line(direction == "in" ? "const void *next;" : "void *next;")
            }
            for field in type.fields {
                writer.doc(field.doc, marker: "//")
                writer.line(Self.declaration(field.type, field.name) + (field.count.map { "[\($0)]" } ?? "") + ";")
            }
        }
        writer.line("} \(type.name)_t;")
    }

    private func writeFunction(_ function: MesaApiEntry.FunctionEntry, _ writer: inout CodeWriter) {
        writer.line()
        writer.doc(function.doc, marker: "//")
        for parameter in function.params { writer.doc("\(parameter.name): \(parameter.doc)", marker: "//") }
        let parameters = function.params.map { Self.declaration($0.type, $0.name) }.joined(separator: ", ")
        writer.line("\(function.returns) \(function.name)(\(parameters.isEmpty ? "void" : parameters));")
    }

    /// `type name`, or `type *name` for a pointer.
    static func declaration(_ type: String, _ name: String) -> String {
        type.hasSuffix("*") ? "\(type)\(name)" : "\(type) \(name)"
    }
}
