import Foundation
import MagmaTestSupport
import Testing

/// A C program linked against the build folder, as a developer would before installing
/// anything: its binary records the SONAME libmagma.so.1, which the SonameLink plugin puts
/// beside libmagma.so on every `swift build`.
@Suite(.hangGuard) struct BuildFolderLinkTests {
    private let buildFolder = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent()
    private let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theBuildFolderHasTheSonameLink() throws {
        let link = buildFolder.appending(path: "libmagma.so.1").path
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "libmagma.so")
        #expect(FileManager.default.fileExists(atPath: link), "the link resolves")
    }

    @Test(.disabled(if: BuiltExecutables.areSanitized, "a sanitized libmagma.so needs its sanitizer runtime to link"))
    func fillCopyLinkedAgainstTheBuildFolderRuns() throws {
        let scratch = FileManager.default.temporaryDirectory.appending(path: "magma-build-link-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let program = scratch.appending(path: "fill_copy")
        let compile = try ToolProcess.run(executable: URL(filePath: "/usr/bin/cc"), [
            "-std=c11", "-Wall", "-Wextra", "-Werror", root.appending(path: "examples/fill_copy.c").path,
            "-I", root.appending(path: "include").path, "-L", buildFolder.path, "-Wl,-rpath,\(buildFolder.path)", "-lmagma",
            "-o", program.path,
        ])
        #expect(compile.status == 0, "\(compile.output)")

        // On the embedded device (the runtime directory is empty)...
        var environment = ToolProcess.environmentWithoutRuntimeDirectory
        environment["MAGMA_DEVICE_DIR"] = scratch.path
        let embedded = try ToolProcess.run(executable: program, [], environment: environment)
        #expect(embedded.status == 0, "\(embedded.output)")
        #expect(embedded.output.contains("verified"), "\(embedded.output)")

        // ...and through a server, named relative to the runtime directory as magma_device_open allows.
        let server = try TestServer()
        environment["MAGMA_DEVICE_DIR"] = server.directory
        let served = try ToolProcess.run(executable: program, ["gpu/000"], environment: environment)
        #expect(served.status == 0, "\(served.output)")
        #expect(served.output.contains("device gpu/000, vendor"), "\(served.output)")
        #expect(served.output.contains("verified"), "\(served.output)")

        // ...and with no argument, on the device magma_enumerate_devices finds first: the magmad
        // serving in $XDG_RUNTIME_DIR/magma, found by the rule magmad used.
        environment["MAGMA_DEVICE_DIR"] = nil
        environment["XDG_RUNTIME_DIR"] = scratch.path
        let daemon = try ToolProcess("magmad", ["--log-level", "error"], environment: environment)
        try daemon.waitForFile("\(scratch.path)/magma/gpu/000")
        let enumerated = try ToolProcess.run(executable: program, [], environment: environment)
        #expect(enumerated.output.contains("device \(scratch.path)/magma/gpu/000, vendor"), "\(enumerated.output)")
        #expect(enumerated.output.contains("verified"), "\(enumerated.output)")
        #expect(daemon.stop().status == 0)
    }
}
