import ArgumentParser
import Foundation
import MagmaBench
import MagmaPlatform

/// `magmactl bench`: every path through Magma and as its floor, in the same run, as ratios.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Magma's paths against their floors (the same syscalls or work without Magma) and print the ratios.")

    @Option(help: "Measured runs per path (after one warm-up run); the median is reported.")
    var runs = 5

    @Flag(help: "A tenth of the work per run, for a quick look.")
    var quick = false

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    @Option(help: "Measure only the paths whose names contain this text (the memory rows of magmad are then skipped).")
    var only: String?

    @Flag(help: "List the paths, numbered from 0 in table order, and exit.")
    var list = false

    @Option(name: .customLong("repeat-path"), help: "Build only the path of this number (see --list), run its side (see --side) --repeat times, untimed, and print its operations per run: for counting instructions (scripts/bench-instructions.sh).")
    var repeatPath: Int?

    @Option(help: "The side --repeat-path runs: magma or floor.")
    var side = "magma"

    @Option(name: .customLong("repeat"), help: "How many runs --repeat-path makes.")
    var repeats = 1

    @Option(help: "Only hold this many idle connections on a fresh magmad and print its memory per connection and its threads (the full run holds 10,000).")
    var idleConnections: Int?

    @Option(help: "Only run the many-clients rows on fresh magmads with this many clients: all submitting verified fills at once (slowest against fastest), then all killed with SIGKILL at random points (magmad's descriptors, threads and memory after).")
    var clients: Int?

    @Option(help: "Only run the flood rows on a fresh magmad: a client's submission latency while another floods it (messages, imports, queries), against the same without the flood, this many submissions each.")
    var flood: Int?

    @Option(help: "Only soak a fresh magmad for this many seconds: waves of --soak-clients clients, each submitting verified fills and then killed mid-work; fails if magmad's descriptors, threads or memory (over 10%) grew from the first wave to the last.")
    var soak: Int?

    @Option(help: "Clients per --soak wave.")
    var soakClients = 100

    @Option(help: "The seed of --clients' and --soak's kill points (random if not given; printed).")
    var seed: UInt64?

    /// Fails before any measuring if `--json`'s file cannot be written.
    func validate() throws {
        guard side == "magma" || side == "floor" else { throw ValidationError("--side must be magma or floor") }
        guard repeats >= 0 else { throw ValidationError("--repeat must not be negative") }
        guard let json else { return }
        let existed = access(json, F_OK) == 0
        let descriptor: Int32
        do throws(PlatformError) {
            descriptor = try SystemCall.retrying("open") { open(json, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644) }
        } catch {
            throw ValidationError("cannot write --json \(json): \(String(cString: strerror(error.code)))")
        }
        close(descriptor)
        if !existed { unlink(json) }
    }

    func run() throws {
        let me = URL(filePath: CommandLine.arguments[0])
        let magmad = me.deletingLastPathComponent().appending(path: "magmad")
        let daemon = FileManager.default.isExecutableFile(atPath: magmad.path) ? magmad : nil
        let scale = quick ? 10 : 1
        if list {
            for (index, make) in BenchmarkSuite.makers(scale: 1000, peer: me).enumerated() {
                let path = try make()
                print("\(index)\t\(path.name)")
                path.close()
            }
            return
        }
        if let repeatPath {
            guard let operations = try BenchmarkSuite.repeatSide(ofPath: repeatPath, floor: side == "floor", repeats: repeats, scale: scale, peer: me) else {
                throw ValidationError("no path \(repeatPath) (see --list)")
            }
            print("operations \(operations)")
            return
        }
        if let idleConnections {
            guard let daemon else { throw ValidationError("magmad not found beside magmactl") }
            print(BenchmarkSuite.table(try BenchmarkSuite.idleConnections(magmad: daemon, connections: max(1, idleConnections))))
            return
        }
        if let flood {
            guard let daemon else { throw ValidationError("magmad not found beside magmactl") }
            print(BenchmarkSuite.table(try BenchmarkSuite.flood(magmad: daemon, peer: me, rounds: max(1, flood))))
            return
        }
        if let soak {
            guard let daemon else { throw ValidationError("magmad not found beside magmactl") }
            let seed = seed ?? UInt64.random(in: 0...UInt64.max)
            print("seed \(seed)")
            print(BenchmarkSuite.table(try BenchmarkSuite.soak(magmad: daemon, peer: me, seconds: max(1, soak), clients: max(1, soakClients), seed: seed)))
            return
        }
        if let clients {
            guard let daemon else { throw ValidationError("magmad not found beside magmactl") }
            let seed = seed ?? UInt64.random(in: 0...UInt64.max)
            print("seed \(seed)")
            print(BenchmarkSuite.table(try BenchmarkSuite.clientLoad(magmad: daemon, peer: me, clients: max(1, clients), seed: seed)))
            return
        }
        let results = try BenchmarkSuite.run(runs: runs, scale: scale, magmad: only == nil ? daemon : nil, peer: me, only: only) { name in
            FileHandle.standardError.write(Data("measuring \(name)\n".utf8))
        }
        print("Magma vs floor on \(BenchmarkSuite.machine()); median of \(runs) runs after a warm-up\n")
        print(BenchmarkSuite.table(results))
        if daemon == nil && only == nil { print("\n(magmad not found beside magmactl: memory rows skipped)") }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let report = BenchReport(machine: BenchmarkSuite.machine(), runs: runs, results: results)
            try encoder.encode(report).write(to: URL(filePath: json))
        }
    }
}

/// What `--json` writes.
struct BenchReport: Encodable {
    var machine: String
    var runs: Int
    var results: [BenchmarkResult]
}
