import Foundation
import Glibc
import MagmaPlatform
import MagmaProtocol

/// One client's submission latency on a real magmad while another client floods it (issue 20:
/// "a client that floods cannot raise another client's submission latency beyond 2x"). The
/// victim is a `FillClient` in this process (submit a verified fill, wait for it); the flooder
/// is a `FloodPeer` process of each kind in turn. Magma's figure is the victim's median round
/// while the flooder runs, the floor its median on the same magmad with no flooder, measured
/// just before; so the ratio is what the flood costs the victim. On a 2-core machine the
/// flooder, magmad and the victim share the cores, so part of any ratio is CPU, not magmad.
enum ClientFlood {
    /// A row per flood kind, `rounds` victim rounds each side.
    static func measure(magmad: URL, peer: URL, rounds: Int) throws -> [BenchmarkResult] {
        try BenchMagmad.withDaemon(magmad, connectionBound: 64) { device, _, endpoint in
            let victim = try FillClient(device, pattern: 0x5EED_F00D)
            defer { victim.close() }
            var round = 0
            func medianRound() throws -> Double {
                var times: [UInt64] = []
                for _ in 0..<rounds {
                    let start = Clock.monotonicNanoseconds()
                    try victim.round(round)
                    times.append(Clock.monotonicNanoseconds() - start)
                    round += 1
                }
                return Double(times.sorted()[times.count / 2])
            }
            _ = try medianRound()   // warm-up
            return try FloodPeer.kinds.map { kind in
                let quiet = try medianRound()
                let ready = FileManager.default.temporaryDirectory.appending(path: "magma-flood-\(UUID().uuidString.prefix(8))").path
                let flooder = try PeerProcess(executable: peer.path, arguments: [FloodPeer.argument, endpoint, kind, ready])
                defer {
                    flooder.kill(SIGKILL)
                    flooder.wait()
                    unlink(ready)
                }
                try ClientLoad.waitForFile(ready, seconds: 30, failure: "the flooder never started flooding")
                usleep(100_000)   // past its start, into its steady flood
                let flooded = try medianRound()
                return BenchmarkResult(path: "submission latency while another client floods \(kind) (magmad)", unit: "submission",
                                       magma: flooded, floor: quiet)
            }
        }
    }
}

extension BenchmarkSuite {
    /// Only the flood rows, on a fresh magmad: a victim's submission latency with and without a
    /// flooding client of each kind, `rounds` rounds each.
    public static func flood(magmad: URL, peer: URL, rounds: Int) throws -> [BenchmarkResult] {
        try ClientFlood.measure(magmad: magmad, peer: peer, rounds: rounds)
    }
}
