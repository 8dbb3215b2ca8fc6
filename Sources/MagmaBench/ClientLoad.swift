import Foundation
import Glibc
import MagmaPlatform
import MagmaProtocol

/// Many clients of a real magmad at once (issue 20's figures), each client a connection of a
/// `ClientPeer` process (a process per client would need more memory than these machines have:
/// about 15 MiB of resident Swift runtime each):
/// - fairness: every client submits the same number of verified fills at once; the row gives the
///   slowest and fastest client's fills per second and their ratio, and fails if any client's
///   fills did not all complete and verify;
/// - kill -9: clients killed at seeded random points, mid-submission (each process once all its
///   clients have verified a first fill, after a further 0-50 ms), process by process; the
///   rows give magmad's descriptors, threads and resident bytes before the first client, after a
///   first warm-up batch was killed, and after all were, once its descriptors are back (or 10 s).
enum ClientLoad {
    /// The fairness rows: `clients` connections in processes of `perProcess`, `rounds` fills each.
    static func fairness(magmad: URL, peer: URL, clients: Int, perProcess: Int, rounds: Int, seed: UInt64) throws -> [BenchmarkResult] {
        try BenchMagmad.withDaemon(magmad, connectionBound: clients + 16) { _, _, endpoint in
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let processes = try (0..<processCount(clients, perProcess)).map { index in
                let result = "\(directory)/\(index)"
                let count = min(perProcess, clients - index * perProcess)
                return (result, try PeerProcess(executable: peer.path, arguments: [
                    ClientPeer.argument, endpoint, String(count), String(rounds), String(seed &+ UInt64(index) << 32), result]))
            }
            var throughputs: [Double] = []
            for (result, process) in processes {
                let status = process.wait()
                let lines = (try? String(contentsOfFile: result, encoding: .utf8))?.split(separator: "\n") ?? []
                for line in lines {
                    let fields = line.split(separator: " ")
                    guard fields.count == 2, Int(fields[0]) == rounds, let nanoseconds = Double(fields[1]) else {
                        throw MagmaError(.internalError, "a client failed (seed \(seed)): \(line)")
                    }
                    throughputs.append(Double(rounds) / nanoseconds * 1e9)
                }
                guard status == 0 else { throw MagmaError(.internalError, "a client process exited with \(status) (seed \(seed))") }
            }
            guard throughputs.count == clients, let slowest = throughputs.min(), let fastest = throughputs.max() else {
                throw MagmaError(.internalError, "\(throughputs.count) of \(clients) clients reported (seed \(seed))")
            }
            return [
                BenchmarkResult(path: "\(clients) concurrent clients × \(rounds) verified fills: every fill completed and verified", unit: "fills",
                                count: "\(clients * rounds)"),
                BenchmarkResult(path: "\(clients) concurrent clients: fills per second, slowest client → fastest", unit: "fills/s",
                                count: String(format: "%.2f → %.2f (%.2fx)", slowest, fastest, fastest / slowest)),
            ]
        }
    }

    /// The kill -9 rows: `clients` connections in processes of `perProcess`, each process killed
    /// a seeded random 0-50 ms after all its clients have verified a first fill (at most 60 s);
    /// `concurrent` processes at a time.
    static func kills(magmad: URL, peer: URL, clients: Int, perProcess: Int, concurrent: Int, seed: UInt64) throws -> [BenchmarkResult] {
        try BenchMagmad.withDaemon(magmad, connectionBound: clients + 16) { device, pid, endpoint in
            let warm = try device.createConnection()
            try warm.flush()
            let start = try DaemonState(pid)
            var state = seed
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let processes = processCount(clients, perProcess)
            let warmUp = min(concurrent, processes)
            var warmed = start
            var index = 0
            while index < processes {
                let batch = index..<min(processes, index + concurrent)
                let running = try batch.map { process in
                    try PeerProcess(executable: peer.path, arguments: [
                        ClientPeer.argument, endpoint, String(min(perProcess, clients - process * perProcess)), "0",
                        String(seed &+ UInt64(process)), "\(directory)/\(process)"])
                }
                for (offset, process) in running.enumerated() {
                    try waitForFile("\(directory)/\(batch.lowerBound + offset).ready", seed: seed)
                    usleep(UInt32(splitMix(&state) % 50_000))
                    process.kill(SIGKILL)
                }
                for process in running { _ = process.wait() }
                index = batch.upperBound
                if index == warmUp { warmed = try DaemonState.settled(pid, descriptors: start.descriptors) }
            }
            let end = try DaemonState.settled(pid, descriptors: start.descriptors)
            withExtendedLifetime(warm) {}
            let label = "magmad after kill -9 of \(clients) clients (seed \(seed))"
            return [
                BenchmarkResult(path: "\(label): descriptors, start → after \(warmUp * perProcess) → end", unit: "descriptors",
                                count: "\(start.descriptors) → \(warmed.descriptors) → \(end.descriptors)"),
                BenchmarkResult(path: "\(label): threads, start → after \(warmUp * perProcess) → end", unit: "threads",
                                count: "\(start.threads) → \(warmed.threads) → \(end.threads)"),
                BenchmarkResult(path: "\(label): resident KiB, start → after \(warmUp * perProcess) → end", unit: "KiB",
                                count: String(format: "%d → %d → %d (end / after warm-up %.3f)", start.resident >> 10, warmed.resident >> 10,
                                              end.resident >> 10, Double(end.resident) / Double(warmed.resident))),
            ]
        }
    }

    /// SplitMix64's next number from `state`.
    private static func splitMix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        let mixed = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
        let z = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Waits (at most 60 s) until `path` exists.
    private static func waitForFile(_ path: String, seed: UInt64) throws {
        let deadline = Clock.monotonicNanoseconds() + 60_000_000_000
        while access(path, F_OK) != 0 {
            guard Clock.monotonicNanoseconds() < deadline else { throw MagmaError(.timedOut, "no client ready at \(path) (seed \(seed))") }
            usleep(2_000)
        }
    }

    private static func processCount(_ clients: Int, _ perProcess: Int) -> Int { (clients + perProcess - 1) / perProcess }

    private static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-clients-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// magmad's open descriptors, threads and resident bytes, from /proc/<pid>.
struct DaemonState {
    let descriptors: Int
    let threads: Int
    let resident: Int

    init(_ pid: Int32) throws {
        descriptors = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
        threads = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).count
        resident = try BenchMagmad.residentBytes(pid)
    }

    /// The state once magmad holds `descriptors` descriptors again (it closes a dead client's
    /// when it sees the hang-up), or after 10 s.
    static func settled(_ pid: Int32, descriptors: Int) throws -> DaemonState {
        let deadline = Clock.monotonicNanoseconds() + 10_000_000_000
        var state = try DaemonState(pid)
        while state.descriptors > descriptors && Clock.monotonicNanoseconds() < deadline {
            usleep(20_000)
            state = try DaemonState(pid)
        }
        return state
    }
}

extension BenchmarkSuite {
    /// Only the many-clients rows on fresh magmads: `clients` concurrent clients (connections of
    /// `ClientPeer` processes of 50, run by `peer`) submitting 200 verified fills each, then
    /// `clients` clients killed with SIGKILL at seeded random points, 5 processes at a time.
    public static func clientLoad(magmad: URL, peer: URL, clients: Int, seed: UInt64) throws -> [BenchmarkResult] {
        let perProcess = min(50, clients)
        return try ClientLoad.fairness(magmad: magmad, peer: peer, clients: clients, perProcess: perProcess, rounds: 200, seed: seed)
            + ClientLoad.kills(magmad: magmad, peer: peer, clients: clients, perProcess: perProcess, concurrent: 5, seed: seed)
    }
}
