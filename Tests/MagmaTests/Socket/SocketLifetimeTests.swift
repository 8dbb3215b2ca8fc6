import Foundation
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaServer
import MagmaTestSupport
import SoftGPU
import Testing

/// Clients that vanish and servers that die: nothing leaks, nothing hangs.
@Suite(.serialized, .hangGuard) struct SocketLifetimeTests {
    @Test func aClientThatDisappearsMidSubmissionLeavesNothingBehind() throws {
        let server = try TestServer()
        let warmup = try server.session()
        try warmup.connection.flush()
        warmup.connection.release()
        #expect(eventually { server.server.connectionCount == 0 })

        for _ in 0..<3 {
            #expect(eventually { server.server.connectionCount == 0 }, "the previous client's connection is torn down")
            let session = try server.session()
            let program = try session.loadProgram(Kernels.spinUntilFlag)
            let (_, flagAddress) = try session.mappedBuffer(size: 4096)
            for _ in 0..<4 {
                _ = try session.mappedBuffer(size: 64 * 1024)
                _ = try session.connection.createSemaphore()
            }
            var stream = CommandStream()
            stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: 1, workgroupSize: 1,
                            arguments: [flagAddress])
            let done = try session.connection.createSemaphore()
            try session.submit(stream, signals: [done])
            try session.connection.flush()
            #expect(server.server.connectionCount == 1)
            session.connection.release()   // gone while its work spins on the GPU
        }
        // Descriptors are counted in MagmadProcessTests, where no other test shares the process.
        #expect(eventually { server.server.connectionCount == 0 })

        #expect(try server.session().fillsCorrectly(pattern: 9))
    }

    @Test func aServerThatStopsShowsAsConnectionLostWithoutHanging() throws {
        let server = try TestServer()
        let session = try server.session()
        try session.connection.flush()
        let started = Clock.monotonicNanoseconds()
        server.server.stop()
        expectStatus(.connectionLost) { try session.connection.flush() }
        expectStatus(.connectionLost) { _ = try session.connection.createSemaphore() }
        expectStatus(.connectionLost) { try Poll.wait([.notifications(session.connection)], timeoutNanoseconds: 5_000_000_000) }
        expectStatus(.connectionLost) { _ = try session.device.queryValue(.vendorId) }
        #expect(Clock.monotonicNanoseconds() - started < 5_000_000_000)
        expectStatus(.connectionLost) { _ = try Device.open(.socket(server.server.devicePath)) }
    }

    @Test func connectionsPastTheLimitAreRefused() throws {
        let server = try TestServer(maxConnections: 2)
        let first = try server.open().createConnection()
        let second = try server.open().createConnection()
        try first.flush()
        try second.flush()
        let third = try server.open().createConnection()
        expectStatus(.memoryError) { try third.flush() }   // the refusal's epitaph
        second.release()
        #expect(eventually { server.server.connectionCount == 1 })
        let fourth = try server.open().createConnection()
        try fourth.flush()
    }
}
