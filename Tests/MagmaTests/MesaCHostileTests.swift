import Foundation
import MagmaTestSupport
import Testing

/// Mesa's C API under hostile and careless callers: Sources/magma-mesa-c-hostile-tests (older
/// and newer extensible structs, descriptor ownership on every import error path, several
/// threads on one device) on every physical device
/// enumeration finds: the embedded device alone, then the embedded device and a server.
@Suite(.hangGuard) struct MesaCHostileTests {
    @Test func hostileCallersOnTheEmbeddedDevice() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "magma-mesa-hostile-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try runExecutable(try BuiltExecutables.url("magma-mesa-c-hostile-tests"), [], environment: ["MAGMA_DEVICE_DIR": directory])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("1 devices, "), "\(result.output)")
        #expect(result.output.contains(", 0 failures"), "\(result.output)")
    }

    @Test func hostileCallersOnTheEmbeddedDeviceAndAServer() throws {
        let server = try TestServer()
        let result = try runExecutable(try BuiltExecutables.url("magma-mesa-c-hostile-tests"), [], environment: ["MAGMA_DEVICE_DIR": server.directory])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("2 devices, "), "\(result.output)")
        #expect(result.output.contains(", 0 failures"), "\(result.output)")
    }
}
