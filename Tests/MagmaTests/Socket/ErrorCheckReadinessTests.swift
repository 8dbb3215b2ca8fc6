import Foundation
import Magma
import MagmaPlatform
import MagmaProtocol
@testable import MagmaSocket
import MagmaWire
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

    /// A waiter woken by the connection's channels (the epitaph's arrival, a pool channel that
    /// ended after it) sees the epitaph at once: `errorAfterWake` reads the channel itself rather
    /// than waiting for the client loop's flag, which goes up a moment later on its own thread
    /// (before, `Poll` on a failed connection's pool could return ready with no error).
    @Test func aWokenWaiterSeesAnEpitaphThatJustArrived() throws {
        let (primary, serverPrimary) = try MessageSocket.pair()
        let (notification, serverNotification) = try MessageSocket.pair()
        let transport = SocketConnectionTransport(primary: primary, notification: notification, limits: nil, callTimeoutNanoseconds: 5_000_000_000)
        defer { transport.close() }
        try serverPrimary.send(try PrimaryProtocol.Epitaph(MagmaError(.contextKilled, "fault")).encoded().bytes)
        // No wait of any kind: the record is in the channel once send returns.
        #expect(transport.errorAfterWake?.status == .contextKilled)
        withExtendedLifetime(serverNotification) {}
    }
}
