import Foundation
import MagmaTestSupport
import Testing

/// The many-clients rows of `magmactl bench --clients` and `--flood` (issue 20's figures at
/// scale) at a test's size: every client's fills complete and verify, after the kills magmad
/// holds the descriptors it held before the first client, and a victim's verified fills go on
/// beside each kind of flooder. No timing is asserted.
@Suite(.hangGuard) struct ClientLoadRowTests {
    @Test(.timeLimit(.minutes(2))) func fillsVerifyAndKilledClientsLeaveNoDescriptors() throws {
        let seed = SeededRandom(for: "bench --clients kill points").seed
        let outcome = try ToolProcess.run("magmactl", ["bench", "--clients", "10", "--seed", String(seed)], timeoutSeconds: 100)
        #expect(outcome.status == 0 && !outcome.timedOut, "seed \(seed): \(outcome.output)")
        #expect(outcome.output.contains("| 10 concurrent clients × 200 verified fills: every fill completed and verified | 2000 fills |"),
                "seed \(seed): \(outcome.output)")
        let descriptors = outcome.output.split(separator: "\n").first { $0.contains("descriptors, start") }
        let counts = descriptors?.split(separator: "|").dropFirst(1).first?.split(separator: " ").compactMap { Int($0) } ?? []
        #expect(counts.count == 3 && counts.first == counts.last, "seed \(seed): \(descriptors ?? "no descriptors row")")
    }

    @Test(.timeLimit(.minutes(2))) func aVictimsFillsVerifyBesideEveryKindOfFlooder() throws {
        let outcome = try ToolProcess.run("magmactl", ["bench", "--flood", "20"], timeoutSeconds: 100)
        #expect(outcome.status == 0 && !outcome.timedOut, "\(outcome.output)")
        for kind in ["messages", "imports", "queries"] {
            #expect(outcome.output.contains("| submission latency while another client floods \(kind) (magmad) |"), "\(outcome.output)")
        }
    }
}
