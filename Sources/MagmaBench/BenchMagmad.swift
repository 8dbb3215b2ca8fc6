import Foundation
import MagmaDevices
import MagmaPlatform
import MagmaProtocol

/// A fresh magmad child for one benchmark row: started in a temporary directory with the
/// connection bounds lifted (one process stands for many clients in these rows), stopped and
/// cleaned up when the row is done.
enum BenchMagmad {
    /// Runs `magmad` with every connection bound (in total, per process, per user) set to
    /// `connectionBound`, waits for its endpoint (at most 10 s), and calls `body` with the
    /// device, magmad's pid and the device's endpoint (for other processes to connect to).
    static func withDaemon<Result>(_ magmad: URL, connectionBound: Int, _ body: (Device, Int32, String) throws -> Result) throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appending(path: "magma-bench-\(UUID().uuidString.prefix(8))").path
        let process = Process()
        process.executableURL = magmad
        let bound = String(connectionBound)
        process.arguments = ["--directory", directory, "--log-level", "error", "--max-connections", bound,
                             "--max-connections-per-process", bound, "--max-connections-per-user", bound]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let path = RuntimeDirectory.deviceEndpoint(in: directory, name: "000")
        let deadline = Clock.monotonicNanoseconds() + 10_000_000_000
        while !FileManager.default.fileExists(atPath: path) {
            guard Clock.monotonicNanoseconds() < deadline else { throw MagmaError(.timedOut, "magmad did not start") }
            usleep(10_000)
        }
        return try body(try Device.open(.socket(path)), process.processIdentifier, path)
    }

    /// magmad's resident bytes, from /proc/<pid>/statm.
    static func residentBytes(_ pid: Int32) throws -> Int {
        let fields = try String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { throw MagmaError(.internalError, "cannot read statm") }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
