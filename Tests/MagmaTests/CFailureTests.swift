import Foundation
import Magma
import MagmaTestSupport
import Testing

/// magma_poll when work fails, from C (Sources/magma-c-failure-tests): on the embedded device,
/// through a server in this process, and through a real magmad.
@Suite(.hangGuard) struct CFailureTests {
    func expectPasses(_ device: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try runExecutable(try BuiltExecutables.url("magma-c-failure-tests"), [device])
        #expect(result.status == 0, "\(result.output)", sourceLocation: sourceLocation)
        #expect(result.output.contains(", 0 failures"), sourceLocation: sourceLocation)
    }

    @Test func onTheEmbeddedDevice() throws { try expectPasses("embedded") }

    @Test func throughAServer() throws {
        let server = try TestServer()
        try expectPasses(server.server.devicePath)
    }

    @Test func throughMagmad() throws {
        let daemon = try Daemon()
        _ = try openListening(daemon)
        try expectPasses(daemon.devicePath)
        #expect(daemon.stop() == 0)
    }
}
