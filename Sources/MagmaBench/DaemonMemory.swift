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
        // One process stands for many clients here: lift the connection bounds (64 per process
        // and 256 per user by default), which would refuse it past 64.
        try BenchMagmad.withDaemon(magmad, connectionBound: max(connections + 1, 1024)) { device, pid, _ in
            let warm = try device.createConnection()
            try warm.flush()
            let before = try BenchMagmad.residentBytes(pid)
            var open: [Connection] = []
            for _ in 0..<connections {
                let connection = try device.createConnection()
                try connection.flush()
                open.append(connection)
            }
            let withConnections = try BenchMagmad.residentBytes(pid)
            var held: [Buffer] = []
            for _ in 0..<buffers { held.append(try warm.createBuffer(size: 4096)) }
            try warm.flush()
            let withBuffers = try BenchMagmad.residentBytes(pid)
            withExtendedLifetime((open, held)) {}
            return [
                BenchmarkResult(path: "magmad memory per idle connection", unit: "bytes", bytes: Double(withConnections - before) / Double(connections)),
                BenchmarkResult(path: "magmad memory per buffer (4 KiB, bookkeeping)", unit: "bytes",
                                bytes: Double(withBuffers - withConnections) / Double(buffers)),
            ]
        }
    }
}
