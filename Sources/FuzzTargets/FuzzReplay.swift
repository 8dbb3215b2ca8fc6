import Foundation

/// What a fuzz executable does when it is not built for libFuzzer: replays inputs (files, or
/// every file of directories) through its target, or writes its seeds.
///
///   fuzz-decoder CORPUS_DIR_OR_FILE...      replay; a trap here is a bug to fix
///   fuzz-decoder --write-seeds DIR          write the seed corpus
public enum FuzzReplay {
    public static func main(target: ([UInt8]) -> Void, seeds: () throws -> [[UInt8]]) {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            if arguments.count == 2, arguments[0] == "--write-seeds" {
                let written = try seeds()
                for (index, seed) in written.enumerated() {
                    try Data(seed).write(to: URL(filePath: arguments[1]).appending(path: "seed-\(index)"))
                }
                print("wrote \(written.count) seeds to \(arguments[1])")
                return
            }
            var count = 0
            for input in try inputs(arguments) {
                target(Array(try Data(contentsOf: input)))
                count += 1
            }
            print("replayed \(count) inputs")
        } catch {
            print("error: \(error)")
            exit(1)
        }
    }

    /// The files named, or in the directories named, sorted.
    public static func inputs(_ paths: [String]) throws -> [URL] {
        try paths.flatMap { path -> [URL] in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
            guard isDirectory.boolValue else { return [URL(filePath: path)] }
            return try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { URL(filePath: path).appending(path: $0) }
        }
    }
}
