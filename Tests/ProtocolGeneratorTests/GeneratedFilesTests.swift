import Foundation
import ProtocolGenerator
import Testing

/// The package root, found from this file's path.
let packageRoot = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite("Generated files match protocol/magma.json")
struct GeneratedFilesTests {
    @Test func committedFilesAreCurrent() throws {
        let files = Generator.files(for: try Generator.loadSpec(root: packageRoot))
        let drift = Generator.drift(root: packageRoot, files: files)
        #expect(drift.isEmpty, "run `swift run magma-protocol-gen`:\n\(drift.joined(separator: "\n"))")
    }

    @Test func driftIsDetected() throws {
        let scratch = FileManager.default.temporaryDirectory.appending(path: "magma-drift-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let files = Generator.files(for: try Generator.loadSpec(root: packageRoot))
        #expect(try Generator.write(root: scratch, files: files).count == files.count)
        #expect(Generator.drift(root: scratch, files: files).isEmpty)

        let header = scratch.appending(path: "include/magma_common_defs.h")
        try (String(contentsOf: header, encoding: .utf8) + "// edited by hand\n").write(to: header, atomically: true, encoding: .utf8)
        try "stale".write(to: scratch.appending(path: "Sources/MagmaWire/Generated/Removed.swift"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: scratch.appending(path: "docs/protocol.md"))

        let drift = Generator.drift(root: scratch, files: files)
        #expect(drift.contains { $0.hasPrefix("differs: include/magma_common_defs.h") })
        #expect(drift.contains("stale: Sources/MagmaWire/Generated/Removed.swift"))
        #expect(drift.contains("missing: docs/protocol.md"))
        #expect(drift.count == 3)

        _ = try Generator.write(root: scratch, files: files)
        #expect(Generator.drift(root: scratch, files: files).isEmpty)
    }

    @Test func generationIsDeterministic() throws {
        let spec = try Generator.loadSpec(root: packageRoot)
        #expect(Generator.files(for: spec) == Generator.files(for: spec))
    }
}
