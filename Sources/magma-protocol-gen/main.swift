// magma-protocol-gen: regenerates the codecs, the C header, the protocol reference and the
// generated tests from protocol/magma.json.
//
//   swift run magma-protocol-gen            write the generated files
//   swift run magma-protocol-gen --check    exit 1 if any generated file differs from the spec
//
// Run it from the package root, or pass --root DIR.
import Foundation
import ProtocolGenerator

var arguments = Array(CommandLine.arguments.dropFirst())
let check = arguments.contains("--check")
arguments.removeAll { $0 == "--check" }
var root = URL(filePath: FileManager.default.currentDirectoryPath)
if let index = arguments.firstIndex(of: "--root"), index + 1 < arguments.count {
    root = URL(filePath: arguments[index + 1])
    arguments.removeSubrange(index...(index + 1))
}
guard arguments.isEmpty else {
    FileHandle.standardError.write(Data("usage: magma-protocol-gen [--check] [--root DIR]\n".utf8))
    exit(2)
}

do {
    let files = Generator.files(for: try Generator.loadSpec(root: root))
    if check {
        let problems = Generator.drift(root: root, files: files)
        for problem in problems { print(problem) }
        exit(problems.isEmpty ? 0 : 1)
    }
    let changed = try Generator.write(root: root, files: files)
    print(changed.isEmpty ? "all \(files.count) generated files are current" : changed.map { "wrote \($0)" }.joined(separator: "\n"))
} catch {
    FileHandle.standardError.write(Data("magma-protocol-gen: \(error)\n".utf8))
    exit(1)
}
