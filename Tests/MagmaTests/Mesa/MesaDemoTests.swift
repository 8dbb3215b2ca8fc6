import Foundation
import MagmaTestSupport
import Testing

/// `magmactl demo --api mesa` runs the demo's verified compute dispatches (on a compute queue)
/// and copies (on a transfer queue, each after its dispatch's timeline point) through Mesa's
/// API, on the embedded device and through a magmad process.
@Suite(.serialized, .hangGuard) struct MesaDemoTests {
    @Test func theDemoRunsThroughMesasAPIOnTheEmbeddedDevice() throws {
        let demo = try BuiltExecutables.runMagmactl(["demo", "--api", "mesa", "--elements", "1500000"])
        #expect(demo.status == 0, "\(demo.output)")
        #expect(demo.output.contains("api: Mesa's"))
        #expect(demo.output.contains("copies on a transfer queue, ordered by a timeline"))
        #expect(demo.output.contains("4 submissions"), "2 dispatches and 2 copies")
        #expect(demo.output.contains("verified     all 1500000 sums and the copy match the CPU"))
    }

    @Test func theDemoRunsThroughMesasAPIAgainstMagmad() throws {
        let daemon = try Daemon()
        let demo = try BuiltExecutables.runMagmactl(["demo", "--api", "mesa", "--device", daemon.devicePath, "--elements", "65536"])
        #expect(demo.status == 0, "\(demo.output)")
        #expect(demo.output.contains("verified     all 65536 sums and the copy match the CPU"))
        #expect(daemon.stop() == 0)
    }

    @Test func anUnknownAPIIsRejected() throws {
        #expect(try BuiltExecutables.runMagmactl(["demo", "--api", "vulkan"]).status != 0)
    }
}
