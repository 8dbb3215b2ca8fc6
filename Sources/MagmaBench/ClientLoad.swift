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
/// - soak: waves of both on one magmad for a while, its state compared wave by wave;
/// - kill -9: clients killed at seeded random points, mid-submission (each process once all its
///   clients have verified a first fill, after a further 0-50 ms), process by process; the
///   rows give magmad's descriptors, threads and resident bytes before the first client, after a
///   first warm-up batch was killed, and after all were, once its descriptors are back (or 10 s).
enum ClientLoad {
    /// The fairness rows: `clients` connections in processes of `perProcess`, `rounds` fills each.
    static func fairness(magmad: URL, peer: URL, clients: Int, perProcess: Int, rounds: Int, seed: UInt64) throws -> [BenchmarkResult] {
        try BenchMagmad.withDaemon(magmad, connectionBound: clients + 16) { _, _, endpoint in
            let throughputs = try Wave(peer: peer, endpoint: endpoint, clients: clients, perProcess: perProcess, seed: seed).verified(rounds: rounds)
            guard let slowest = throughputs.min(), let fastest = throughputs.max() else { return [] }
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
            var random = seed
            let wave = Wave(peer: peer, endpoint: endpoint, clients: clients, perProcess: perProcess, seed: seed)
            let warmUp = min(concurrent, processCount(clients, perProcess))
            var warmed = start
            try wave.killed(concurrent: concurrent, random: &random) { processesDone in
                if processesDone == warmUp { warmed = try DaemonState.settled(pid, descriptors: start.descriptors) }
            }
            let end = try DaemonState.settled(pid, descriptors: start.descriptors)
            withExtendedLifetime(warm) {}
            let label = "magmad after kill -9 of \(clients) clients (seed \(seed))"
            return [
                BenchmarkResult(path: "\(label): descriptors, start → after \(warmUp * perProcess) → end", unit: "descriptors",
                                count: "\(start.descriptors) → \(warmed.descriptors) → \(end.descriptors)"),
                BenchmarkResult(path: "\(label): threads, start → after \(warmUp * perProcess) → end", unit: "threads",
                                count: "\(start.threads) → \(warmed.threads) → \(end.threads) (and libdispatch's \(start.dispatchThreads) → \(warmed.dispatchThreads) → \(end.dispatchThreads))"),
                BenchmarkResult(path: "\(label): resident KiB, start → after \(warmUp * perProcess) → end", unit: "KiB",
                                count: String(format: "%d → %d → %d (end / after warm-up %.3f)", start.resident >> 10, warmed.resident >> 10,
                                              end.resident >> 10, Double(end.resident) / Double(warmed.resident))),
            ]
        }
    }

    /// Soak: waves of `clients` clients on one magmad for `seconds`, each wave `clients`
    /// verified fills apiece and then as many clients killed mid-work; magmad's state is taken
    /// after every wave. Throws (seed in the message) when a fill fails, when magmad's
    /// descriptors or own threads (not libdispatch's pool) after the last wave differ from
    /// those after the first, or when
    /// its resident memory grew more than `residentGrowthBound` (a fraction) past the first
    /// wave's.
    static func soak(magmad: URL, peer: URL, seconds: Int, clients: Int, seed: UInt64,
                     residentGrowthBound: Double = 0.10) throws -> [BenchmarkResult] {
        try BenchMagmad.withDaemon(magmad, connectionBound: 2 * clients + 16) { device, pid, endpoint in
            let warm = try device.createConnection()
            try warm.flush()
            let baseline = try DaemonState(pid)
            let deadline = Clock.monotonicNanoseconds() + UInt64(seconds) * 1_000_000_000
            var random = seed
            var states: [DaemonState] = []
            var fills = 0
            repeat {
                let waveSeed = splitMix(&random)
                let wave = Wave(peer: peer, endpoint: endpoint, clients: clients, perProcess: min(50, clients), seed: waveSeed)
                fills += try wave.verified(rounds: 50).count * 50
                try wave.killed(concurrent: 2, random: &random) { _ in }
                states.append(try DaemonState.settled(pid, descriptors: baseline.descriptors))
            } while Clock.monotonicNanoseconds() < deadline
            withExtendedLifetime(warm) {}
            let (first, last) = (states[0], states[states.count - 1])
            let growth = Double(last.resident) / Double(first.resident) - 1
            let label = "soak, \(states.count) waves of \(clients) clients (seed \(seed))"
            guard last.descriptors == first.descriptors, last.threads == first.threads, growth <= residentGrowthBound else {
                throw MagmaError(.internalError, "\(label): magmad grew from the first wave to the last: descriptors \(first.descriptors) → \(last.descriptors), threads \(first.threads) → \(last.threads), resident \(first.resident >> 10) → \(last.resident >> 10) KiB")
            }
            return [
                BenchmarkResult(path: "\(label): verified fills", unit: "fills", count: "\(fills)"),
                BenchmarkResult(path: "\(label): descriptors, start → first wave → last", unit: "descriptors",
                                count: "\(baseline.descriptors) → \(first.descriptors) → \(last.descriptors)"),
                BenchmarkResult(path: "\(label): threads, start → first wave → last", unit: "threads",
                                count: "\(baseline.threads) → \(first.threads) → \(last.threads) (and libdispatch's \(baseline.dispatchThreads) → \(first.dispatchThreads) → \(last.dispatchThreads))"),
                BenchmarkResult(path: "\(label): resident KiB, start → first wave → last", unit: "KiB",
                                count: String(format: "%d → %d → %d (last / first %.3f)", baseline.resident >> 10, first.resident >> 10,
                                              last.resident >> 10, 1 + growth)),
                // Growth that levels off (allocator arenas warming up) against growth that goes on
                // (a leak): the resident size after each fifth of the waves.
                BenchmarkResult(path: "\(label): resident KiB after each fifth of the waves", unit: "KiB",
                                count: (1...5).map { "\(states[max(0, $0 * states.count / 5 - 1)].resident >> 10)" }.joined(separator: " → ")),
            ]
        }
    }

    /// One wave of clients: `clients` connections in `ClientPeer` processes of `perProcess`.
    struct Wave {
        let peer: URL
        let endpoint: String
        let clients: Int
        let perProcess: Int
        let seed: UInt64

        /// All at once, `rounds` verified fills each; returns each client's fills per second.
        /// Throws (naming the seed) if a client failed or did not report.
        func verified(rounds: Int) throws -> [Double] {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let processes = try (0..<processCount(clients, perProcess)).map { index in
                let result = "\(directory)/\(index)"
                return (result, try spawn(index, rounds: rounds, result: result))
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
            guard throughputs.count == clients else {
                throw MagmaError(.internalError, "\(throughputs.count) of \(clients) clients reported (seed \(seed))")
            }
            return throughputs
        }

        /// `concurrent` processes at a time, each killed with SIGKILL a random 0-50 ms (from
        /// `random`) after all its clients verified a first fill; `afterBatch` gets the number
        /// of processes done so far.
        func killed(concurrent: Int, random: inout UInt64, afterBatch: (Int) throws -> Void) throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let processes = processCount(clients, perProcess)
            var index = 0
            while index < processes {
                let batch = index..<min(processes, index + concurrent)
                let running = try batch.map { try spawn($0, rounds: 0, result: "\(directory)/\($0)") }
                for (offset, process) in running.enumerated() {
                    let ready = "\(directory)/\(batch.lowerBound + offset).ready"
                    try waitForFile(ready, seconds: 60, failure: "no client ready at \(ready) (seed \(seed))")
                    usleep(UInt32(splitMix(&random) % 50_000))
                    process.kill(SIGKILL)
                }
                for process in running { process.wait() }
                index = batch.upperBound
                try afterBatch(index)
            }
        }

        private func spawn(_ index: Int, rounds: Int, result: String) throws -> PeerProcess {
            try PeerProcess(executable: peer.path, arguments: [
                ClientPeer.argument, endpoint, String(min(perProcess, clients - index * perProcess)), String(rounds),
                String(seed &+ UInt64(index) << 32), result])
        }
    }

    /// SplitMix64's next number from `state`.
    fileprivate static func splitMix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        let mixed = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
        let z = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Waits until `path` exists (a peer's ready file), at most `seconds`; past that throws
    /// TIMED_OUT with `failure`.
    static func waitForFile(_ path: String, seconds: UInt64, failure: @autoclosure () -> String) throws {
        let deadline = Clock.monotonicNanoseconds() + seconds * 1_000_000_000
        while access(path, F_OK) != 0 {
            guard Clock.monotonicNanoseconds() < deadline else { throw MagmaError(.timedOut, failure()) }
            usleep(2_000)
        }
    }

    fileprivate static func processCount(_ clients: Int, _ perProcess: Int) -> Int { (clients + perProcess - 1) / perProcess }

    fileprivate static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-clients-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// magmad's open descriptors, threads and resident bytes, from /proc/<pid>. Threads are
/// magmad's own (its loop, workers and main thread); libdispatch's pool, which runs SoftGPU's
/// engine queue and grows and shrinks with load on its own, is counted apart.
struct DaemonState {
    let descriptors: Int
    let threads: Int
    let dispatchThreads: Int
    let resident: Int

    init(_ pid: Int32) throws {
        descriptors = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        let names = tasks.map { (try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8)) ?? "" }
        dispatchThreads = names.filter { $0.contains("qos") || $0.hasPrefix("com.apple") || $0.hasPrefix("Dispatch") }.count
        threads = names.count - dispatchThreads
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

    /// Only the soak rows (`ClientLoad.soak`): waves of `clients` clients on one fresh magmad
    /// for `seconds`; throws if magmad grew.
    public static func soak(magmad: URL, peer: URL, seconds: Int, clients: Int, seed: UInt64) throws -> [BenchmarkResult] {
        try ClientLoad.soak(magmad: magmad, peer: peer, seconds: seconds, clients: clients, seed: seed)
    }
}
