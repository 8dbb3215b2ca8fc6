import Foundation
import Testing

/// The README and docs/ name only files that exist: every relative Markdown link resolves, and
/// every file the README and docs/architecture.md name in backquotes is in the repository (a
/// path from the package root, or the end of one, such as `MMU/PageTable.swift`).
@Suite struct DocumentationReferenceTests {
    private static let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appending(path: path), encoding: .utf8)
    }

    /// The documents checked: the README and every page in docs/.
    private static var documents: [String] {
        let pages = (try? FileManager.default.contentsOfDirectory(atPath: root.appending(path: "docs").path)) ?? []
        return ["README.md"] + pages.filter { $0.hasSuffix(".md") }.sorted().map { "docs/\($0)" }
    }

    /// The targets of `[text](target)` links that are not URLs or anchors.
    static func relativeLinks(in markdown: String) -> [String] {
        markdown.matches(of: /\]\(([^)#\s]+)(#[^)]*)?\)/).map { String($0.output.1) }.filter { !$0.contains("://") }
    }

    /// Backquoted names of source, header and Markdown files.
    static func fileNames(in markdown: String) -> [String] {
        markdown.matches(of: /`([A-Za-z0-9_.+\/-]+\.(swift|c|h|md|json|sh))`/).map { String($0.output.1) }
    }

    @Test(arguments: documents)
    func everyRelativeLinkResolves(_ document: String) throws {
        let base = document.split(separator: "/").dropLast().map { "\($0)/" }.joined()
        for link in Self.relativeLinks(in: try Self.read(document)) {
            let path = base + link
            #expect(FileManager.default.fileExists(atPath: Self.root.appending(path: path).path), "\(document) links to \(link)")
        }
    }

    @Test func theArchitecturePageNamesTheFilesItDescribes() throws {
        #expect(Self.fileNames(in: try Self.read("docs/architecture.md")).count > 30)
    }

    /// The README and the architecture page name repository files only (the other pages also
    /// name installed paths, such as `include/magma/magma.h` under a prefix).
    @Test(arguments: ["README.md", "docs/architecture.md"])
    func everyFileADocumentNamesExists(_ document: String) throws {
        let names = Self.fileNames(in: try Self.read(document))
        var files = (try? FileManager.default.contentsOfDirectory(atPath: Self.root.path)) ?? []
        for directory in ["Sources", "Plugins", "include", "docs", "protocol", "scripts", "Tests", "examples", "Fuzz", "Benchmarks"] {
            let walker = FileManager.default.enumerator(atPath: Self.root.appending(path: directory).path)
            while let path = walker?.nextObject() as? String { files.append("\(directory)/\(path)") }
        }
        for name in names {
            #expect(files.contains { $0 == name || $0.hasSuffix("/\(name)") }, "\(document) names \(name)")
        }
    }

    @Test func linkExtractionSeesLinksAndSkipsURLs() {
        #expect(Self.relativeLinks(in: "[a](docs/x.md) [b](https://e.org/y) [c](z.md#part) [d](#top)") == ["docs/x.md", "z.md"])
    }
}
