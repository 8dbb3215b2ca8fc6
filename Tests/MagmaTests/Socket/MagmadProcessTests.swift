import Foundation
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Testing

/// The built `magmad` and `magmactl` executables, next to the test bundle.
enum BuiltExecutables {
    static func url(_ name: String) throws -> URL {
        let directory = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent()
        let url = directory.appending(path: name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw MagmaError(.internalError, "\(name) is not built next to the tests (\(directory.path)); run swift build first")
        }
        return url
    }

    /// Whether this build is instrumented by a sanitizer (`swift test --sanitize=...`, as
    /// scripts/sanitizers.sh runs it): its libmagma.so, and so its magmad and magmactl, carry the
    /// sanitizer's runtime entry. Such builds run SoftGPU many times slower and use far more
    /// memory, and a plain `cc` cannot link a program against their library.
    static let areSanitized: Bool = {
        guard let built = try? url("magma-c-tests").deletingLastPathComponent().appending(path: "libmagma.so"),
              let contents = try? Data(contentsOf: built) else { return false }
        return ["__tsan_init", "__asan_init"].contains { contents.range(of: Data($0.utf8)) != nil }
    }()

    /// Runs `magmactl` with `arguments` to completion, at most a minute; returns its status and
    /// standard output (and why it was killed if it was).
    static func runMagmactl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = try url("magmactl")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ProcessDeadline(process, seconds: 60)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let killed = deadline.wait(for: process)
        return (process.terminationStatus, String(decoding: data, as: UTF8.self) + (killed.map { "\n\($0)" } ?? ""))
    }
}

/// A magmad child process serving in a temporary directory.
final class Daemon {
    let process = Process()
    let directory = FileManager.default.temporaryDirectory.appending(path: "magmad-test-\(UUID().uuidString.prefix(8))").path
    var devicePath: String { "\(directory)/gpu/000" }
    var pid: Int32 { process.processIdentifier }

    init() throws {
        process.executableURL = try BuiltExecutables.url("magmad")
        process.arguments = ["--directory", directory, "--log-level", "error"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard eventually({ FileManager.default.fileExists(atPath: devicePath) }) else {
            throw MagmaError(.timedOut, "magmad did not create \(devicePath)")
        }
    }

    /// SIGTERM, then the exit status (SIGKILL's if magmad has not exited 10 s later).
    func stop() -> Int32 { stopDaemon(process) }

    deinit { endDaemon(process, directory: directory) }
}

/// Stops a magmad child with SIGTERM and returns its exit status; SIGKILLs it (and records
/// that) if it has not exited 10 s later.
func stopDaemon(_ process: Process) -> Int32 {
    kill(process.processIdentifier, SIGTERM)
    if let killed = ProcessDeadline(process, seconds: 10).wait(for: process) { Issue.record("\(killed)") }
    return process.terminationStatus
}

/// Ends a magmad child that is still running (SIGKILL) and removes its directory.
func endDaemon(_ process: Process, directory: String) {
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
    try? FileManager.default.removeItem(atPath: directory)
}

/// Whether daemon `pid`'s descriptor count comes back to `baseline` within 10 s: a closed
/// connection's teardown is asynchronous, and slower on a loaded machine; a leak never does.
func descriptorsReturn(to baseline: Int, pid: Int32) -> Bool {
    eventually { openDescriptorCount(pid: pid) == baseline }
}

/// The daemon's descriptor count once two samples 100 ms apart agree (the last client's
/// teardown has finished).
func settledDescriptorCount(pid: Int32) -> Int {
    var previous = openDescriptorCount(pid: pid)
    for _ in 0..<50 {
        usleep(100_000)
        let current = openDescriptorCount(pid: pid)
        if current == previous { return current }
        previous = current
    }
    return previous
}

/// magmad as a real process, with real client processes.
@Suite(.serialized, .hangGuard) struct MagmadProcessTests {
    @Test func infoAndDemoRunAgainstMagmad() throws {
        let daemon = try Daemon()
        let info = try BuiltExecutables.runMagmactl(["info", "--device", daemon.devicePath])
        #expect(info.status == 0)
        #expect(info.output.contains("vendor-id               0x10f00"))
        #expect(info.output.contains("name                    SoftGPU (driver softgpu, version 0x10000)"))
        #expect(info.output.contains("memory-type 1           heap 0: device-local\n"))
        #expect(info.output.contains("queue-family 1          transfer: 16 contexts per connection"))
        #expect(info.output.contains("; a new connection may use "))
        let demo = try BuiltExecutables.runMagmactl(["demo", "--device", daemon.devicePath, "--elements", "65536"])
        #expect(demo.status == 0)
        #expect(demo.output.contains("verified     all 65536 sums and the copy match the CPU"))
        #expect(daemon.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.devicePath), "magmad removes its endpoint on SIGTERM")
    }

    @Test func clientsKilledAtAnyMomentLeaveNoDescriptorsBehind() throws {
        let daemon = try Daemon()
        #expect(try BuiltExecutables.runMagmactl(["demo", "--device", daemon.devicePath, "--elements", "65536"]).status == 0)
        let baseline = settledDescriptorCount(pid: daemon.pid)
        var random = SeededRandom(for: "clientsKilledAtAnyMomentLeaveNoDescriptorsBehind")
        let delays = (0..<12).map { _ in UInt32.random(in: 0...600_000, using: &random) }   // random points of a busy session
        for delayMicroseconds in delays {
            let client = Process()
            client.executableURL = try BuiltExecutables.url("magmactl")
            client.arguments = ["demo", "--device", daemon.devicePath, "--elements", "2000000"]
            client.standardOutput = FileHandle.nullDevice
            try client.run()
            usleep(delayMicroseconds)
            kill(client.processIdentifier, SIGKILL)
            client.waitUntilExit()
        }
        #expect(eventually { openDescriptorCount(pid: daemon.pid) == baseline },
                "daemon descriptors: \(openDescriptorCount(pid: daemon.pid)), before the clients: \(baseline); kill points \(delays) µs, \(random)")
        #expect(try BuiltExecutables.runMagmactl(["info", "--device", daemon.devicePath]).status == 0, "the daemon still serves")
        #expect(daemon.stop() == 0)
    }

    @Test func aDaemonKilledWithSIGKILLShowsAsConnectionLost() throws {
        let daemon = try Daemon()
        let session = try GPUSession(device: try Device.open(.socket(daemon.devicePath)))
        try session.connection.flush()
        kill(daemon.pid, SIGKILL)
        daemon.process.waitUntilExit()
        let started = Clock.monotonicNanoseconds()
        expectStatus(.connectionLost) { try session.connection.flush() }
        expectStatus(.connectionLost) { try Poll.wait([.notifications(session.connection)], timeoutNanoseconds: 5_000_000_000) }
        expectStatus(.connectionLost) { _ = try session.connection.readNotification() }
        #expect(Clock.monotonicNanoseconds() - started < 2_000_000_000)
    }
}
