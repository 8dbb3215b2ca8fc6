import Foundation
import Testing

/// libmagma.so exports the C API of include/magma.h and nothing else: the Swift modules linked
/// into it (the client library, its backends, MagmaSystem, SoftGPU) stay local, so a C program
/// can neither bind to them nor clash with them (Sources/MagmaC/libmagma.version).
@Suite(.timeLimit(.minutes(1))) struct LibraryExportsTests {
    private let library = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent().appending(path: "libmagma.so")

    /// The dynamic symbols libmagma.so defines with global or weak binding (`nm -D
    /// --defined-only` prints those with an upper-case type letter; lower case is local: the
    /// linker keeps some local symbols in the dynamic table for relocations, unexported).
    private func exportedSymbols() throws -> [String] {
        let nm = try ToolProcess.run(executable: URL(filePath: "/usr/bin/nm"), ["-D", "--defined-only", library.path])
        try #require(nm.status == 0, "\(nm.output)")
        return nm.output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 3, fields[1].first?.isUppercase == true else { return nil }
            return String(fields[2])
        }
    }

    @Test func onlyTheCApiIsExported() throws {
        let exported = try exportedSymbols()
        #expect(exported.count >= 46, "the C API is exported: \(exported.count) symbols")
        // Nothing the linker must export is needed besides the C API: no allowance list.
        #expect(exported.filter { !$0.hasPrefix("magma_") } == [])
    }

    @Test func everyFunctionOfMagmaHIsExported() throws {
        let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let header = try String(contentsOf: root.appending(path: "include/magma.h"), encoding: .utf8)
        let declared = Set(header.matches(of: /(magma_[a-z0-9_]+)\(/).map { String($0.1) })
        let exported = Set(try exportedSymbols())
        #expect(!declared.isEmpty)
        #expect(declared.subtracting(exported).sorted() == [])
    }
}
