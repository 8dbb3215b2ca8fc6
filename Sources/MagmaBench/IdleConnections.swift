import Foundation
import MagmaDevices
import MagmaPlatform
import MagmaProtocol

/// What a real magmad spends holding many idle connections: resident bytes per connection and
/// its thread count, with one connection and with `connections` (from /proc/<pid>/statm and
/// /proc/<pid>/task).
///
/// Each connection holds two descriptors on each side, so the run lifts this process's
/// RLIMIT_NOFILE (which magmad inherits) to what it needs, where it may (as root; otherwise it
/// holds as many connections as the limit allows, and the row says how many), and lifts
/// magmad's connection bounds (1,024 in all, 64 per process by default).
enum IdleConnections {
    static func measure(magmad: URL, connections requested: Int) throws -> [BenchmarkResult] {
        let connections = liftDescriptorLimit(forConnections: requested)
        return try BenchMagmad.withDaemon(magmad, connectionBound: connections + 16) { device, pid, _ in
            let warm = try device.createConnection()
            try warm.flush()
            let before = try BenchMagmad.residentBytes(pid)
            let threadsBefore = threadCount(pid)
            var open: [Connection] = []
            open.reserveCapacity(connections)
            for _ in 0..<connections { open.append(try device.createConnection()) }
            for connection in open { try connection.flush() }   // every one is served
            let after = try BenchMagmad.residentBytes(pid)
            let threadsAfter = threadCount(pid)
            withExtendedLifetime((warm, open)) {}
            let held = connections == requested ? "" : " (descriptor limit: \(connections) of \(requested))"
            return [
                BenchmarkResult(path: "magmad memory per idle connection, \(connections) held\(held)", unit: "bytes",
                                bytes: Double(after - before) / Double(connections)),
                BenchmarkResult(path: "magmad threads, 1 connection → \(connections) idle\(held)", unit: "threads",
                                count: "\(threadsBefore) → \(threadsAfter)"),
            ]
        }
    }

    /// Raises RLIMIT_NOFILE to what `connections` need here and in magmad (two descriptors
    /// each, and room for the rest); returns how many connections the limit then allows.
    private static func liftDescriptorLimit(forConnections connections: Int) -> Int {
        let spare = 256
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let wanted = rlim_t(2 * connections + spare)
        if limit.rlim_cur < wanted {
            var raised = rlimit(rlim_cur: wanted, rlim_max: max(limit.rlim_max, wanted))
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) != 0 {
                raised = rlimit(rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max)
                _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
            }
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return max(1, min(connections, (Int(clamping: limit.rlim_cur) - spare) / 2))
    }

    private static func threadCount(_ pid: Int32) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).count
    }
}
