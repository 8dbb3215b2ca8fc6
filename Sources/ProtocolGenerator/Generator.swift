import Foundation

/// Renders every generated file from the spec, and compares them with a checkout.
public enum Generator {
    /// The spec, relative to the package root.
    public static let specPath = "protocol/magma.json"

    /// Directories that hold only generated files: a file there that the spec does not produce
    /// is stale.
    public static let generatedDirectories = [
        "Sources/MagmaProtocol/Generated",
        "Sources/MagmaWire/Generated",
        "Tests/MagmaWireTests/Generated",
    ]

    /// Every generated file, in a fixed order.
    public static func files(for spec: ProtocolSpec) -> [GeneratedFile] {
        let codecs = SwiftCodecEmitter(spec: spec)
        let tests = TestEmitter(spec: spec)
        let requests = RequestsEmitter(spec: spec)
        let mesa = MesaHeaderEmitter(api: spec.mesaApi)
        return [
            GeneratedFile(path: "Sources/MagmaProtocol/Generated/Vocabulary.swift", contents: SwiftVocabularyEmitter(spec: spec).render()),
            GeneratedFile(path: "Sources/MagmaProtocol/Generated/PrimaryRequests.swift", contents: requests.renderProtocol()),
            GeneratedFile(path: "Sources/MagmaWire/Generated/WireStructs.swift", contents: codecs.renderStructs()),
            GeneratedFile(path: "Sources/MagmaWire/Generated/PrimaryRequestCoding.swift", contents: requests.renderCoding()),
        ] + spec.protocols.map { definition in
            GeneratedFile(path: "Sources/MagmaWire/Generated/\(definition.swiftName).swift", contents: codecs.render(definition))
        } + [
            GeneratedFile(path: "include/magma_common_defs.h", contents: CHeaderEmitter(spec: spec).render()),
            GeneratedFile(path: "docs/protocol.md", contents: DocsEmitter(spec: spec).render()),
            GeneratedFile(path: "Tests/MagmaWireTests/Generated/SpecSamples.swift", contents: tests.renderSamples()),
            GeneratedFile(path: "Tests/MagmaWireTests/Generated/CHeaderAgreementTests.swift", contents: tests.renderCAgreement()),
            GeneratedFile(path: spec.mesaApi.entry.header, contents: mesa.render()),
            GeneratedFile(path: "Sources/CMagmaMesa/layout_checks.c", contents: mesa.renderLayoutChecks()),
            GeneratedFile(path: "Tests/MagmaWireTests/Generated/MesaHeaderAgreementTests.swift", contents: mesa.renderAgreementTests()),
            GeneratedFile(path: "docs/mesa-c-api.md", contents: MesaDocsEmitter(api: spec.mesaApi).render()),
        ]
    }

    /// Loads the spec of the package at `root`.
    public static func loadSpec(root: URL) throws -> ProtocolSpec {
        try ProtocolSpec(json: Data(contentsOf: root.appending(path: specPath)))
    }

    /// What differs between the generated files and the checkout at `root`: one line per
    /// missing, changed or stale file. Empty when everything is current.
    public static func drift(root: URL, files: [GeneratedFile]) -> [String] {
        var problems: [String] = []
        for file in files {
            let url = root.appending(path: file.path)
            guard let current = try? String(contentsOf: url, encoding: .utf8) else {
                problems.append("missing: \(file.path)")
                continue
            }
            if current != file.contents { problems.append("differs: \(file.path)\(firstDifference(current, file.contents))") }
        }
        let expected = Set(files.map(\.path))
        for path in staleFiles(root: root, expected: expected) { problems.append("stale: \(path)") }
        return problems
    }

    /// Writes the generated files and deletes stale ones. Returns the paths it changed.
    public static func write(root: URL, files: [GeneratedFile]) throws -> [String] {
        var changed: [String] = []
        for file in files {
            let url = root.appending(path: file.path)
            if (try? String(contentsOf: url, encoding: .utf8)) == file.contents { continue }
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try file.contents.write(to: url, atomically: true, encoding: .utf8)
            changed.append(file.path)
        }
        for path in staleFiles(root: root, expected: Set(files.map(\.path))) {
            try FileManager.default.removeItem(at: root.appending(path: path))
            changed.append(path)
        }
        return changed
    }

    private static func staleFiles(root: URL, expected: Set<String>) -> [String] {
        generatedDirectories.flatMap { directory in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: root.appending(path: directory).path)) ?? []
            return names.sorted().map { "\(directory)/\($0)" }.filter { !expected.contains($0) }
        }
    }

    private static func firstDifference(_ old: String, _ new: String) -> String {
        let oldLines = old.split(separator: "\n", omittingEmptySubsequences: false)
        let newLines = new.split(separator: "\n", omittingEmptySubsequences: false)
        for index in 0..<max(oldLines.count, newLines.count) {
            let was = index < oldLines.count ? String(oldLines[index]) : "<end of file>"
            let now = index < newLines.count ? String(newLines[index]) : "<end of file>"
            if was != now { return " (line \(index + 1): committed \"\(was)\", spec gives \"\(now)\")" }
        }
        return ""
    }
}
