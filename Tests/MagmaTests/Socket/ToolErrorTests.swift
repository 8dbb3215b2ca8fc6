import Foundation
import Glibc
import MagmaProtocol
import MagmaTestSupport
import Testing

/// magmad and magmactl, as a user meets them: errors that name their cause, arguments checked
/// before any work, and `--version`.
@Suite(.hangGuard) final class ToolErrorTests {
    private let scratch: String

    init() throws {
        scratch = FileManager.default.temporaryDirectory.appending(path: "magma-tool-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    deinit {
        chmod(scratch, 0o700)
        chmod("\(scratch)/gpu", 0o700)
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// Runs magmad in `directory` until it exits (it should, failing to start).
    private func magmadFails(in directory: String, prefix: [String] = []) throws -> ToolProcess.Outcome {
        let outcome = try ToolProcess.run("magmad", ["--directory", directory, "--log-level", "error"], prefix: prefix, timeoutSeconds: 10)
        #expect(!outcome.timedOut, "magmad started instead of failing: \(outcome.output)")
        #expect(outcome.status != 0, "\(outcome.output)")
        return outcome
    }

    @Test func magmadSaysAddressInUseAndLeavesWhatIsThere() throws {
        try FileManager.default.createDirectory(atPath: "\(scratch)/gpu", withIntermediateDirectories: true)
        let squatter = "\(scratch)/gpu/000"
        #expect(FileManager.default.createFile(atPath: squatter, contents: Data("not a socket".utf8)))
        let outcome = try magmadFails(in: scratch)
        #expect(outcome.output.contains("badState: cannot listen on \(squatter): address in use"), "\(outcome.output)")
        #expect(outcome.output.contains("errno \(EADDRINUSE)"), "\(outcome.output)")
        #expect(FileManager.default.contents(atPath: squatter) == Data("not a socket".utf8), "magmad removes only stale sockets")
    }

    @Test func magmadSaysThePathIsTooLong() throws {
        let long = "\(scratch)/" + String(repeating: "d", count: 120)
        let outcome = try magmadFails(in: long)
        #expect(outcome.output.contains("invalidArgs: cannot listen on \(long)/gpu/000: path too long"), "\(outcome.output)")
        #expect(outcome.output.contains("errno \(ENAMETOOLONG)"), "\(outcome.output)")
    }

    @Test func magmadSaysADirectoryCannotBeCreated() throws {
        let outcome = try magmadFails(in: "\(scratch)/missing/magma")
        #expect(outcome.output.contains("invalidArgs: cannot create the directory \(scratch)/missing/magma: the directory above it does not exist"),
                "\(outcome.output)")
        #expect(outcome.output.contains("errno \(ENOENT)"), "\(outcome.output)")
    }

    @Test(.enabled(if: ToolProcess.withoutFileCapabilities != nil, "root without setpriv cannot lose its file capabilities"))
    func magmadSaysPermissionDeniedForADirectory() throws {
        #expect(chmod(scratch, 0o500) == 0)
        let outcome = try magmadFails(in: "\(scratch)/magma", prefix: try #require(ToolProcess.withoutFileCapabilities))
        #expect(outcome.output.contains("accessDenied: cannot create the directory \(scratch)/magma: permission denied"), "\(outcome.output)")
        #expect(outcome.output.contains("errno \(EACCES)"), "\(outcome.output)")
    }

    @Test(.enabled(if: ToolProcess.withoutFileCapabilities != nil, "root without setpriv cannot lose its file capabilities"))
    func magmadSaysPermissionDeniedForAnEndpoint() throws {
        try FileManager.default.createDirectory(atPath: "\(scratch)/gpu", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(scratch)/gpu-performance-counters", withIntermediateDirectories: true)
        #expect(chmod("\(scratch)/gpu", 0o500) == 0)
        let outcome = try magmadFails(in: scratch, prefix: try #require(ToolProcess.withoutFileCapabilities))
        #expect(outcome.output.contains("accessDenied: cannot listen on \(scratch)/gpu/000: permission denied"), "\(outcome.output)")
    }

    @Test(arguments: ["", "a/b", ".."])
    func magmadRejectsADeviceNameThatIsNotAFileName(_ name: String) throws {
        let outcome = try ToolProcess.run("magmad", ["--directory", scratch, "--device-name", name], timeoutSeconds: 10)
        #expect(!outcome.timedOut, "magmad started: \(outcome.output)")
        #expect(outcome.status == 64, "a usage error (EX_USAGE): \(outcome.output)")
        #expect(outcome.output.contains("--device-name must be a file name"), "\(outcome.output)")
    }

    @Test func benchChecksItsJSONPathBeforeMeasuring() throws {
        let path = "\(scratch)/missing/report.json"
        let outcome = try ToolProcess.run("magmactl", ["bench", "--quick", "--runs", "1", "--json", path], timeoutSeconds: 30)
        #expect(!outcome.output.contains("measuring"), "the bench ran before the path was checked: \(outcome.output)")
        #expect(outcome.status == 64, "\(outcome.output)")
        #expect(outcome.output.contains("cannot write --json \(path): No such file or directory"), "\(outcome.output)")
    }

    @Test func benchRefusesADirectoryAsItsJSONPath() throws {
        let outcome = try ToolProcess.run("magmactl", ["bench", "--quick", "--runs", "1", "--json", scratch], timeoutSeconds: 30)
        #expect(!outcome.output.contains("measuring"), "the bench ran before the path was checked: \(outcome.output)")
        #expect(outcome.output.contains("cannot write --json \(scratch): Is a directory"), "\(outcome.output)")
    }

    @Test(arguments: ["magmactl", "magmad"])
    func versionPrintsThePackageAndProtocolVersions(_ tool: String) throws {
        let outcome = try ToolProcess.run(tool, ["--version"], timeoutSeconds: 10)
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(outcome.output == "\(MagmaVersion.package) (Magma protocol wire format \(ProtocolLimits.wireFormat))\n")
    }
}
