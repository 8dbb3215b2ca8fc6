import Foundation

/// Every path of `magmactl bench`, sized for a run of about a minute on two cores.
public enum BenchmarkSuite {
    /// The paths, in table order. `scale` divides the work (for a quick run). With `peer` (an
    /// executable that runs `SemaphorePeer.main` when given `SemaphorePeer.argument` and
    /// `BufferPeer.main` when given `BufferPeer.argument`), the cross-process paths run too.
    public static func paths(scale: Int = 1, peer: URL? = nil) throws -> [any BenchmarkPath] {
        try makers(scale: scale, peer: peer).map { try $0() }
    }

    /// What builds each path, in table order (see `paths`): a path is only set up when built.
    public static func makers(scale: Int = 1, peer: URL? = nil) -> [() throws -> any BenchmarkPath] {
        let scale = max(1, scale)
        var crossProcess: [() throws -> any BenchmarkPath] = []
        var sharing: [() throws -> any BenchmarkPath] = []
        if let peer {
            crossProcess = [{ try CrossProcessSemaphoreWake(operations: 20_000 / scale, peerExecutable: peer) }]
            sharing = [{ try CrossProcessBufferShare(operations: 5_000 / scale, peerExecutable: peer) }]
        }
        let local: [() throws -> any BenchmarkPath] = [
            { try QueryRoundTrip(operations: 20_000 / scale) },
            { try InlineCommandThroughput(commands: 20_000 / scale) },
            { try SemaphoreWake(operations: 20_000 / scale) },
            { try TimelineWake(operations: 20_000 / scale) },
            { try RingThroughput(operations: 200_000 / scale, payloadBytes: 64) },
            { try RingThroughput(operations: 50_000 / scale, payloadBytes: 1024) },
            { try VirtioRingVersusSocket(operations: 20_000 / scale) },
            { try VirtioRingVersusRawRing(operations: 20_000 / scale) },
            { try VirtioRingVersusRawBytes(operations: 20_000 / scale) },
        ]
        let gpu: [() throws -> any BenchmarkPath] = [
            { try SubmitOverhead(operations: 10_000 / scale) },
            { try SemaphoreSubmit(operations: 5_000 / scale) },
            { try CopyBandwidth(mebibytes: max(1, 64 / scale)) },
            { try VectorAdd(elements: (1 << 20) / scale, threads: 1) },
            { try VectorAdd(elements: (1 << 20) / scale, threads: 2) },
        ]
        return local + crossProcess + [{ try BufferLifecycle(operations: 5_000 / scale) }] + sharing + gpu
    }

    /// Builds only path number `index` (in table order), runs one side of it `repeats` times
    /// with no timing and closes it: for counting instructions under a tool such as callgrind,
    /// where the difference between two repeat counts, divided by the operations, is the cost
    /// of one operation. Returns the path's operations per run, or nil if there is no such path.
    public static func repeatSide(ofPath index: Int, floor: Bool, repeats: Int, scale: Int = 1, peer: URL?) throws -> Int? {
        let makers = makers(scale: scale, peer: peer)
        guard makers.indices.contains(index) else { return nil }
        let path = try makers[index]()
        defer { path.close() }
        for _ in 0..<repeats { try floor ? path.runFloor() : path.runMagma() }
        return path.operations
    }

    /// Measures every path (only those whose names contain `only`, if given), then the
    /// daemon's memory if `magmad` is given.
    public static func run(runs: Int, scale: Int = 1, magmad: URL?, peer: URL?, only: String? = nil,
                           progress: (String) -> Void = { _ in }) throws -> [BenchmarkResult] {
        let runner = BenchmarkRunner(runs: runs)
        var results: [BenchmarkResult] = []
        for make in makers(scale: scale, peer: peer) {
            let path = try make()
            if let only, !path.name.contains(only) {
                path.close()
                continue
            }
            progress(path.name)
            results.append(try runner.measure(path))
            if let counting = path as? any ReportsCounts { results += counting.countRows() }
        }
        if let magmad {
            progress("magmad memory")
            results += try DaemonMemory.measure(magmad: magmad, connections: 100 / scale, buffers: 500 / scale)
            progress("magmad idle connections")
            results += try IdleConnections.measure(magmad: magmad, connections: 10_000 / scale)
        }
        return results
    }

    /// Only the idle-connection rows: a fresh `magmad` holding `connections` idle connections.
    public static func idleConnections(magmad: URL, connections: Int) throws -> [BenchmarkResult] {
        try IdleConnections.measure(magmad: magmad, connections: connections)
    }

    /// The results as a Markdown table: path, Magma, floor, Magma / floor.
    public static func table(_ results: [BenchmarkResult]) -> String {
        var lines = ["| path | Magma | floor | Magma / floor |", "|---|---:|---:|---:|"]
        for result in results {
            if let bytes = result.bytes {
                lines.append("| \(result.path) | \(Int(bytes.rounded())) bytes | — | — |")
            } else if let count = result.count {
                lines.append("| \(result.path) | \(count) \(result.unit) | — | — |")
            } else if let magma = result.magma, let floor = result.floor, let ratio = result.ratio {
                lines.append("| \(result.path) | \(format(magma)) per \(result.unit) | \(format(floor)) | \(String(format: "%.2f", ratio)) |")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The machine the numbers come from.
    public static func machine() -> String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores, Linux \(kernel)"
    }

    private static func format(_ nanoseconds: Double) -> String {
        switch nanoseconds {
        case ..<10: String(format: "%.2f ns", nanoseconds)
        case ..<1_000: String(format: "%.0f ns", nanoseconds)
        case ..<1_000_000: String(format: "%.1f µs", nanoseconds / 1_000)
        default: String(format: "%.2f ms", nanoseconds / 1_000_000)
        }
    }
}
