import Foundation
import MagmaTestSupport
import Testing

/// Mesa's C API from C: Sources/magma-mesa-c-tests (the intent of Mesa's FFI test, with checks
/// that the GPU did the work, and the status paths for bad arguments) on every physical device
/// enumeration finds: the embedded device alone, then the embedded device and a server.
@Suite(.hangGuard) struct MesaCABITests {
    @Test func cTestsPassOnTheEmbeddedDevice() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "magma-mesa-c-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try runExecutable(try BuiltExecutables.url("magma-mesa-c-tests"), ["1"], environment: ["MAGMA_DEVICE_DIR": directory])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("device 0 (SoftGPU"), "\(result.output)")
        #expect(result.output.contains(", 0 failures"))
    }

    @Test func cTestsPassOnTheEmbeddedDeviceAndAServer() throws {
        let server = try TestServer()
        let result = try runExecutable(try BuiltExecutables.url("magma-mesa-c-tests"), ["2"], environment: ["MAGMA_DEVICE_DIR": server.directory])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("device 1 (SoftGPU"), "\(result.output)")
        #expect(result.output.contains(", 0 failures"))
    }
}
