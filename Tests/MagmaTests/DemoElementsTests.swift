import Foundation
import MagmaTestSupport
import Testing

/// `magmactl demo` accepts up to 2^24 elements and splits them into submissions the watchdog
/// never stops.
@Suite(.hangGuard) struct DemoElementsTests {
    @Test(.disabled(if: BuiltExecutables.areSanitized, "a sanitized SoftGPU runs many times slower than the watchdog assumes"))
    func theLargestDemoRunsInSubmissionsBelowTheWatchdog() throws {
        let demo = try BuiltExecutables.runMagmactl(["demo", "--elements", "16777216"])
        #expect(demo.status == 0, "\(demo.output)")
        #expect(demo.output.contains("16 submissions"))
        #expect(demo.output.contains("verified     all 16777216 sums and the copy match the CPU"))
    }

    @Test func moreThanTheLargestIsRejected() throws {
        #expect(try BuiltExecutables.runMagmactl(["demo", "--elements", "16777217"]).status != 0)
    }
}
