import Foundation
import Glibc
import MagmaDevices
import MagmaPlatform
import MagmaTestSupport
import Testing

/// Clients and magmad find the same runtime directory by the same rule (`$MAGMA_DEVICE_DIR`,
/// else `$XDG_RUNTIME_DIR/magma`, else `/tmp/magma-<uid>`), and a device can be named relative
/// to it, so nobody has to spell magmad's path.
@Suite(.hangGuard) struct DeviceLocationTests {
    private static func scratchDirectory() -> String {
        FileManager.default.temporaryDirectory.appending(path: "magma-location-\(UUID().uuidString.prefix(8))").path
    }

    @Test func magmaDeviceDirWinsOverXDGRuntimeDir() {
        #expect(RuntimeDirectory.resolve(environment: ["MAGMA_DEVICE_DIR": "/d", "XDG_RUNTIME_DIR": "/run/user/7"]) == "/d")
    }

    @Test func xdgRuntimeDirIsUsedWithoutMagmaDeviceDir() {
        #expect(RuntimeDirectory.resolve(environment: ["XDG_RUNTIME_DIR": "/run/user/7"]) == "/run/user/7/magma")
    }

    @Test func withNeitherTheDirectoryIsInTmpPerUser() {
        #expect(RuntimeDirectory.resolve(environment: [:]) == "/tmp/magma-\(getuid())")
    }

    @Test func emptyVariablesCountAsUnset() {
        #expect(RuntimeDirectory.resolve(environment: ["MAGMA_DEVICE_DIR": "", "XDG_RUNTIME_DIR": "/run/user/7"]) == "/run/user/7/magma")
        #expect(RuntimeDirectory.resolve(environment: ["MAGMA_DEVICE_DIR": "", "XDG_RUNTIME_DIR": ""]) == "/tmp/magma-\(getuid())")
    }

    @Test func namesResolveAgainstTheRuntimeDirectory() {
        #expect(RuntimeDirectory.endpoint(named: "gpu/000", in: "/r") == "/r/gpu/000")
        #expect(RuntimeDirectory.endpoint(named: "/elsewhere/gpu/001", in: "/r") == "/elsewhere/gpu/001")
        #expect(RuntimeDirectory.endpoint(named: "./gpu/000", in: "/r") == "./gpu/000", "explicitly relative to the working directory")
        #expect(RuntimeDirectory.endpoint(named: "magmad", in: "/r") == "/r/gpu/000", "no magmad there yet: where it would serve")
        guard case .embedded = DeviceLocator.named("embedded", in: "/r") else {
            Issue.record("'embedded' names the embedded device")
            return
        }
        guard case .socket(let path) = DeviceLocator.named("gpu/000", in: "/r") else {
            Issue.record("'gpu/000' names a socket")
            return
        }
        #expect(path == "/r/gpu/000")
    }

    @Test func magmadNamesTheEndpointThatIsServing() throws {
        let server = try TestServer()
        #expect(RuntimeDirectory.endpoint(named: "magmad", in: server.directory) == server.server.devicePath)
        let device = try Device.open(.named("magmad", in: server.directory))
        #expect(try device.queryValue(.vendorId) != 0)
    }

    /// magmad started with no `--directory` and magmactl given a name relative to the runtime
    /// directory agree, for each way the environment can choose it.
    @Test(arguments: ["neither", "xdg", "magma"])
    func magmadAndMagmactlAgreeOnTheDirectory(_ variables: String) throws {
        var environment = ToolProcess.environmentWithoutRuntimeDirectory
        let scratch = Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let expected: String
        switch variables {
        case "xdg":
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            environment["XDG_RUNTIME_DIR"] = scratch
            expected = "\(scratch)/magma"
        case "magma":
            environment["XDG_RUNTIME_DIR"] = "/nonexistent-xdg-runtime-dir"
            environment["MAGMA_DEVICE_DIR"] = scratch
            expected = scratch
        default:
            expected = "/tmp/magma-\(getuid())"
        }
        // A name of its own, so it never meets another magmad serving in /tmp/magma-<uid>.
        let name = "location-\(UUID().uuidString.prefix(8))"
        let daemon = try ToolProcess("magmad", ["--device-name", name, "--log-level", "error"], environment: environment)
        try daemon.waitForFile("\(expected)/gpu/\(name)")
        let relative = try ToolProcess.run("magmactl", ["info", "--device", "gpu/\(name)"], environment: environment)
        #expect(relative.status == 0, "\(relative.output)")
        #expect(relative.output.contains("device: magmad at \(expected)/gpu/\(name)"), "\(relative.output)")
        if variables != "neither" {   // elsewhere /tmp/magma-<uid> may hold other magmads' endpoints
            let running = try ToolProcess.run("magmactl", ["info", "--device", "magmad"], environment: environment)
            #expect(running.status == 0, "\(running.output)")
            #expect(running.output.contains("device: magmad at \(expected)/gpu/\(name)"), "\(running.output)")
        }
        #expect(daemon.stop().status == 0)
    }
}
