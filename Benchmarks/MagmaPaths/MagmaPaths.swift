// Every path of magmactl bench as ordo-one benchmarks: "<path> · Magma" and "<path> · floor",
// each iteration one run of the path's operations (see Sources/MagmaBench). The cross-process
// paths need magmactl as their peer process: $MAGMACTL, or the main package's debug build.
import Benchmark
import Foundation
import MagmaBench

let peer: URL? = {
    let candidate = ProcessInfo.processInfo.environment["MAGMACTL"] ?? "../.build/debug/magmactl"
    return FileManager.default.isExecutableFile(atPath: candidate) ? URL(filePath: candidate) : nil
}()

nonisolated(unsafe) let paths: [any BenchmarkPath] = try! BenchmarkSuite.paths(scale: 10, peer: peer)

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal], maxDuration: .seconds(2))
    for index in paths.indices {
        let name = paths[index].name
        Benchmark("\(name) · Magma") { benchmark in
            for _ in benchmark.scaledIterations { try paths[index].runMagma() }
        }
        Benchmark("\(name) · floor") { benchmark in
            for _ in benchmark.scaledIterations { try paths[index].runFloor() }
        }
    }
}
