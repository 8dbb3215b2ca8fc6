import Foundation

/// Every path of `magmactl bench`, sized for a run of about a minute on two cores.
public enum BenchmarkSuite {
    /// The paths, in table order. `scale` divides the work (for a quick run). With
    /// `semaphorePeer` (an executable that runs `SemaphorePeer.main` when given
    /// `SemaphorePeer.argument`), semaphores are also measured between two processes.
    public static func paths(scale: Int = 1, semaphorePeer: URL? = nil) throws -> [any BenchmarkPath] {
        let scale = max(1, scale)
        let crossProcess: [any BenchmarkPath] = try semaphorePeer.map { [try CrossProcessSemaphoreWake(operations: 20_000 / scale, peerExecutable: $0)] } ?? []
        return [
            try QueryRoundTrip(operations: 20_000 / scale),
            try InlineCommandThroughput(commands: 20_000 / scale, perMessage: false),
            try InlineCommandThroughput(commands: 20_000 / scale, perMessage: true),
            try SemaphoreWake(operations: 20_000 / scale),
        ] + crossProcess + [
            try BufferLifecycle(operations: 5_000 / scale),
            try SubmitOverhead(operations: 10_000 / scale),
            try CopyBandwidth(mebibytes: max(1, 64 / scale)),
            try VectorAdd(elements: (1 << 20) / scale),
        ]
    }

    /// Measures every path, then the daemon's memory if `magmad` is given.
    public static func run(runs: Int, scale: Int = 1, magmad: URL?, semaphorePeer: URL?,
                           progress: (String) -> Void = { _ in }) throws -> [BenchmarkResult] {
        let runner = BenchmarkRunner(runs: runs)
        var results: [BenchmarkResult] = []
        for path in try paths(scale: scale, semaphorePeer: semaphorePeer) {
            progress(path.name)
            results.append(try runner.measure(path))
        }
        if let magmad {
            progress("magmad memory")
            results += try DaemonMemory.measure(magmad: magmad, connections: 100 / scale, buffers: 500 / scale)
        }
        return results
    }

    /// The results as a Markdown table: path, Magma, floor, Magma / floor.
    public static func table(_ results: [BenchmarkResult]) -> String {
        var lines = ["| path | Magma | floor | Magma / floor |", "|---|---:|---:|---:|"]
        for result in results {
            if let bytes = result.bytes {
                lines.append("| \(result.path) | \(Int(bytes.rounded())) bytes | — | — |")
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
