import Foundation
import Glibc
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Testing

/// Opening a device that is not there says why, with a status and errno a program can act on
/// and words a user can: nothing there, not a socket, nobody listening, no permission.
@Suite(.hangGuard) final class DeviceErrorMessageTests {
    private let scratch: String

    init() throws {
        scratch = FileManager.default.temporaryDirectory.appending(path: "magma-open-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: scratch) }

    /// The error opening `path` throws; records an issue if it opens.
    private func openingError(_ path: String) -> MagmaError? {
        do {
            _ = try Device.open(.socket(path))
            Issue.record("\(path) opened")
            return nil
        } catch { return error }
    }

    @Test func aPathThatDoesNotExistSaysNothingIsThere() throws {
        let error = try #require(openingError("\(scratch)/gpu/000"))
        #expect(error.status == .connectionLost)
        #expect(error.systemErrorCode == ENOENT)
        #expect(error.message.contains("\(scratch)/gpu/000: nothing is there; is magmad running?"), "\(error)")
    }

    @Test func aRegularFileSaysItIsNotAnEndpoint() throws {
        let path = "\(scratch)/file"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
        let error = try #require(openingError(path))
        #expect(error.status == .invalidArgs)
        #expect(error.systemErrorCode == ECONNREFUSED)
        #expect(error.message.contains("it is a regular file, not a magmad endpoint"), "\(error)")
    }

    @Test func aDirectorySaysWhereEndpointsAre() throws {
        let error = try #require(openingError(scratch))
        #expect(error.status == .invalidArgs)
        #expect(error.message.contains("it is a directory"), "\(error)")
    }

    @Test func aSocketNobodyListensOnSaysSo() throws {
        let path = "\(scratch)/stale"
        do { _ = try MessageSocket.listen(path: path, permissions: 0o666) }   // closed at once: a dead server's socket
        let error = try #require(openingError(path))
        #expect(error.status == .connectionLost)
        #expect(error.systemErrorCode == ECONNREFUSED)
        #expect(error.message.contains("it is a socket nobody listens on"), "\(error)")
    }

    @Test func aPathTooLongForASocketSaysSo() throws {
        let error = try #require(openingError("/" + String(repeating: "d", count: 200)))
        #expect(error.status == .invalidArgs)
        #expect(error.systemErrorCode == ENAMETOOLONG)
        #expect(error.message.contains("too long for a Unix socket"), "\(error)")
    }

    /// A permission error as magmactl prints it. Root ignores file modes, so as root the tool
    /// runs without CAP_DAC_OVERRIDE.
    @Test(.enabled(if: ToolProcess.withoutFileCapabilities != nil, "root without setpriv cannot lose its file capabilities"))
    func anEndpointWithoutPermissionSaysPermissionDenied() throws {
        let server = try TestServer()
        #expect(chmod(server.server.devicePath, 0) == 0)
        let result = try ToolProcess.run("magmactl", ["info", "--device", server.server.devicePath],
                                         prefix: try #require(ToolProcess.withoutFileCapabilities))
        #expect(result.status != 0)
        #expect(result.output.contains("accessDenied: cannot open the Magma device \(server.server.devicePath): permission denied"),
                "\(result.output)")
        #expect(result.output.contains("errno \(EACCES)"), "\(result.output)")
    }

    @Test func magmactlSaysNothingIsThereWhenNoMagmadRuns() throws {
        var environment = ToolProcess.environmentWithoutRuntimeDirectory
        environment["MAGMA_DEVICE_DIR"] = scratch
        let result = try ToolProcess.run("magmactl", ["info", "--device", "magmad"], environment: environment)
        #expect(result.status != 0)
        #expect(result.output.contains("cannot open the Magma device \(scratch)/gpu/000: nothing is there; is magmad running?"),
                "\(result.output)")
    }
}
