import Magma
import MagmaProtocol
import MagmaTestSupport
import Testing

/// A socket client learns why its connection failed in the same words as an embedded one.
@Suite(.hangGuard) struct FaultReasonOverSocketTests {
    /// The error a connection ends with after `failure`, on `backend`.
    func error(after failure: FailingWork, on backend: FailureBackend) throws -> MagmaError? {
        let (device, keepAlive) = try backend.open(watchdogNanoseconds: failure.watchdogNanoseconds)
        return try withExtendedLifetime(keepAlive) {
            let session = try GPUSession(device: device)
            let done = try session.connection.createSemaphore()
            try failure.submit(on: session, signaling: done)
            _ = try? Poll.wait([.semaphore(done)], timeoutNanoseconds: FailureReachesWaiterTests.longTimeout)
            return session.connection.error
        }
    }

    @Test(arguments: [FailingWork.unmappedRead, .illegalCommand, .watchdogKill, .destroyedContext])
    func theReasonArrivesOverTheSocket(_ failure: FailingWork) throws {
        let embedded = try #require(try error(after: failure, on: .embedded))
        let socket = try #require(try error(after: failure, on: .server))
        #expect(socket.status == embedded.status)
        #expect(socket.message == embedded.message)
        #expect(!socket.message.isEmpty && socket.message != "closed by the server")
    }

    @Test func aRejectedRequestsReasonArrivesToo() throws {
        let server = try TestServer()
        let session = try server.session()
        let buffer = try session.connection.createBuffer(size: 4096)
        try session.connection.map(buffer, at: 0x1001, flags: .read)
        expectStatus(.invalidArgs) { try session.connection.flush() }
        #expect(session.connection.error?.message.contains("not page aligned") == true, "\(String(describing: session.connection.error))")
    }
}
