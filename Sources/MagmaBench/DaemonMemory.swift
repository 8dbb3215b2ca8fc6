import Foundation
import MagmaDevices
import MagmaPlatform
import MagmaProtocol

/// What a real magmad spends on clients: resident bytes per idle connection and per imported
/// buffer, from /proc/<pid>/statm before and after.
enum DaemonMemory {
    /// Starts `magmad` (the executable beside this one), opens `connections` idle connections,
    /// then imports `buffers` 4 KiB buffers on one of them.
    static func measure(magmad: URL, connections: Int, buffers: Int) throws -> [BenchmarkResult] {
        let directory = FileManager.default.temporaryDirectory.appending(path: "magma-bench-\(UUID().uuidString.prefix(8))").path
        let process = Process()
        process.executableURL = magmad
        // One process stands for many clients here: lift the per-process and per-user connection
        // bounds (64 and 256 by default), which would refuse it past 64.
        let bound = String(max(connections + 1, 1024))
        process.arguments = ["--directory", directory, "--log-level", "error",
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
        let device = try Device.open(.socket(path))
        let warm = try device.createConnection()
        try warm.flush()
        let before = try residentBytes(process.processIdentifier)
        var open: [Connection] = []
        for _ in 0..<connections {
            let connection = try device.createConnection()
            try connection.flush()
            open.append(connection)
        }
        let withConnections = try residentBytes(process.processIdentifier)
        var held: [Buffer] = []
        for _ in 0..<buffers { held.append(try warm.createBuffer(size: 4096)) }
        try warm.flush()
        let withBuffers = try residentBytes(process.processIdentifier)
        withExtendedLifetime((open, held)) {}
        return [
            BenchmarkResult(path: "magmad memory per idle connection", unit: "bytes", bytes: Double(withConnections - before) / Double(connections)),
            BenchmarkResult(path: "magmad memory per buffer (4 KiB, bookkeeping)", unit: "bytes",
                            bytes: Double(withBuffers - withConnections) / Double(buffers)),
        ]
    }

    static func residentBytes(_ pid: Int32) throws -> Int {
        let fields = try String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { throw MagmaError(.internalError, "cannot read statm") }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
