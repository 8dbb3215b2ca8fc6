@testable import Magma
@testable import MagmaPrimary
@testable import MagmaEmbedded
@testable import MagmaSocket
import MagmaDRM
import MagmaProtocol
import MagmaTestSupport
import Testing

/// The parameterized behaviour tests are only as good as their backends: each is what it says,
/// and a test's server goes away with it.
@Suite(.hangGuard) struct TestBackendTests {
    @Test func eachBackendIsWhatItSays() throws {
        let devices = TestDevices()
        #expect(try devices.open(.embedded).createConnection().primaryTransport is InProcessConnectionTransport)
        #expect(try devices.open(.socket).createConnection().primaryTransport is SocketConnectionTransport)
    }

    @Test(.enabled(if: DRMTestDevice.info != nil, "no DRM device here: the DRM backend joins the object tests in the QEMU guest"))
    func theDRMBackendIsAKernelConnection() throws {
        #expect(try TestDevices().open(.drm).createConnection().backend is DRMConnection)
    }

    @Test func aSocketDevicesServerStopsWithItsDevices() throws {
        var devices: TestDevices? = TestDevices()
        let connection = try devices!.open(.socket).createConnection()
        try connection.flush()
        devices = nil
        expectStatus(.connectionLost) { try connection.flush() }
    }
}
