import Foundation
import Magma
import MagmaTestSupport
import Testing

/// Runs a built executable to completion, at most two minutes; returns its status and output
/// (standard output and error together, and why it was killed if it was).
func runExecutable(_ url: URL, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = url
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let deadline = ProcessDeadline(process, seconds: 120)
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let killed = deadline.wait(for: process)
    return (process.terminationStatus, String(decoding: data, as: UTF8.self) + (killed.map { "\n\($0)" } ?? ""))
}

/// The C API from C: Sources/magma-c-tests (the intent of Fuchsia's test_magma.cc and every
/// status path) against the embedded device and against a server, and the example program
/// compiled against libmagma.so.
@Suite(.hangGuard) struct CABITests {
    /// An empty runtime directory, so device enumeration finds only the embedded device.
    private func emptyRuntimeDirectory() -> String {
        let directory = FileManager.default.temporaryDirectory.appending(path: "magma-c-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func cTestsPassOnTheEmbeddedDevice() throws {
        let result = try runExecutable(try BuiltExecutables.url("magma-c-tests"), ["embedded"],
                                       environment: ["MAGMA_DEVICE_DIR": emptyRuntimeDirectory()])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains(", 0 failures"))
    }

    @Test func cTestsPassAgainstAServer() throws {
        let server = try TestServer()
        let result = try runExecutable(try BuiltExecutables.url("magma-c-tests"),
                                       [server.server.devicePath, server.server.performanceCounterPath],
                                       environment: ["MAGMA_DEVICE_DIR": server.directory])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains(", 0 failures"))
    }

    @Test(.disabled(if: BuiltExecutables.areSanitized, "a sanitized libmagma.so needs its sanitizer runtime to link"))
    func theExampleBuildsAgainstLibmagmaAndVerifies() throws {
        let built = try BuiltExecutables.url("magma-c-tests").deletingLastPathComponent().appending(path: "libmagma.so")
        #expect(FileManager.default.fileExists(atPath: built.path))
        let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        // A library directory as the install step lays it out: libmagma.so -> libmagma.so.1 (the SONAME).
        let scratch = FileManager.default.temporaryDirectory.appending(path: "magma-example-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: scratch) }
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: scratch.appending(path: "libmagma.so.1"), withDestinationURL: built)
        try FileManager.default.createSymbolicLink(at: scratch.appending(path: "libmagma.so"), withDestinationURL: built)
        let program = scratch.appending(path: "fill_copy")
        let compile = try runExecutable(URL(filePath: "/usr/bin/cc"), [
            "-std=c11", "-Wall", "-Wextra", "-Werror", root.appending(path: "examples/fill_copy.c").path,
            "-I", root.appending(path: "include").path, "-L", scratch.path, "-Wl,-rpath,\(scratch.path)", "-lmagma",
            "-o", program.path,
        ])
        #expect(compile.status == 0, "\(compile.output)")
        let run = try runExecutable(program, [], environment: ["MAGMA_DEVICE_DIR": emptyRuntimeDirectory()])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("verified"))
    }
}
