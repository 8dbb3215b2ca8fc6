import Foundation
import Magma
@testable import MagmaSocket
import MagmaTestSupport
import SoftGPU
import Testing

/// The error check every API call of a socket connection makes: it reads the primary channel
/// only when the client loop has seen something arrive there, and an epitaph reaches it with no
/// call that waits for the server.
@Suite(.hangGuard) struct ErrorCheckReadinessTests {
    /// A healthy connection's checks read nothing: a thousand calls, no read of the channel.
    @Test func aHealthyConnectionsChecksReadNothing() throws {
        let server = try TestServer()
        let connection = try server.open().createConnection()
        let transport = try #require(connection.primaryTransport as? SocketConnectionTransport)
        try connection.flush()
        #expect(connection.error == nil)   // reads the flush reply's arrival, if it was seen
        let before = transport.primaryChannelChecks.load(ordering: .relaxed)
        for _ in 0..<1_000 {
            #expect(connection.error == nil)
            let context = try connection.createContext()
            try connection.release(context)
        }
        let reads = transport.primaryChannelChecks.load(ordering: .relaxed) - before
        // Flow control's consumed events arrive now and then; each is read once.
        #expect(reads < 100, "1,000 checks of a healthy connection read the channel \(reads) times")
    }

    /// A request the server rejects: its epitaph shows in `error` without a flush or any call
    /// that waits, once it has arrived.
    @Test func anEpitaphReachesTheCheckByReadiness() throws {
        let server = try TestServer()
        let connection = try server.open().createConnection()
        _ = try connection.createContext(queueFamily: UInt32(SoftGPUIdentity.queueFamilies.count))
        let deadline = Date().addingTimeInterval(20)
        while connection.error == nil, Date() < deadline { usleep(1_000) }
        #expect(connection.error?.status == .invalidArgs)
    }
}
