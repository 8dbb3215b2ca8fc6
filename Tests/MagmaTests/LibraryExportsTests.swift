import Foundation
import Testing

/// Each C library exports its header's C API and nothing else: the Swift modules linked into it
/// (the client library, its backends, MagmaSystem, SoftGPU) stay local, so a C program can
/// neither bind to them nor clash with them (Sources/MagmaC/libmagma.version,
/// Sources/MagmaMesaC/libmagma_mesa.version).
@Suite(.timeLimit(.minutes(1))) struct LibraryExportsTests {
    /// A built C library and the header it implements.
    struct CLibrary: Sendable, CustomTestStringConvertible {
        let file: String
        let header: String
        var testDescription: String { file }
    }

    static let libraries = [
        CLibrary(file: "libmagma.so", header: "include/magma.h"),
        CLibrary(file: "libmagma_mesa.so", header: "Sources/CMagmaMesa/include/magma_mesa.h"),
    ]

    /// The dynamic symbols `library` defines with global or weak binding (`nm -D
    /// --defined-only` prints those with an upper-case type letter; lower case is local: the
    /// linker keeps some local symbols in the dynamic table for relocations, unexported).
    private func exportedSymbols(_ library: CLibrary) throws -> [String] {
        let path = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent().appending(path: library.file).path
        let nm = try ToolProcess.run(executable: URL(filePath: "/usr/bin/nm"), ["-D", "--defined-only", path])
        try #require(nm.status == 0, "\(nm.output)")
        return nm.output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 3, fields[1].first?.isUppercase == true else { return nil }
            return String(fields[2])
        }
    }

    /// The functions `library`'s header declares.
    private func declaredFunctions(_ library: CLibrary) throws -> Set<String> {
        let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let header = try String(contentsOf: root.appending(path: library.header), encoding: .utf8)
        return Set(header.matches(of: /(magma_[a-z0-9_]+)\(/).map { String($0.1) })
    }

    @Test(arguments: libraries) func exactlyTheHeadersFunctionsAreExported(_ library: CLibrary) throws {
        let declared = try declaredFunctions(library)
        let exported = Set(try exportedSymbols(library))
        #expect(declared.count >= 30, "\(library.header) declares its calls: \(declared.count)")
        #expect(declared.subtracting(exported).sorted() == [], "declared but not exported")
        // Nothing the linker must export is needed besides the C API: no allowance list.
        #expect(exported.subtracting(declared).sorted() == [], "exported but not declared")
    }
}
