import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

@Suite(.hangGuard, .drmBackend(.runsWithTimelineSyncobjs)) struct SemaphoreAndPollTests {
    let devices = TestDevices()

    @Test(arguments: TestBackend.virtioCases) func signalResetAndIds(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let semaphore = try connection.createSemaphore()
        #expect(semaphore.id != invalidObjectId)
        #expect(!semaphore.isSignaled)
        semaphore.signal()
        semaphore.signal()
        #expect(semaphore.isSignaled)
        semaphore.reset()
        #expect(!semaphore.isSignaled)
        try connection.release(semaphore)
        expectStatus(.invalidArgs) { try connection.release(semaphore) }
        try connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func exportedSemaphoreSharesStateAcrossConnections(_ backend: TestBackend) throws {
        let device = try devices.open(backend)
        let a = try device.createConnection()
        let b = try device.createConnection()
        let original = try a.createSemaphore()
        let bystander = try b.createSemaphore()
        let imported = try b.importSemaphore(try original.export())
        // Ids are the importing connection's own: new there, never 0.
        #expect(imported.id != 0 && imported.id != bystander.id)
        original.signal()
        #expect(imported.isSignaled)
        imported.reset()
        #expect(!original.isSignaled)
        try a.flush()
        try b.flush()
    }

    @Test(.drmBackend(.skipped(.eventfdSemaphores)), arguments: TestBackend.virtioCases) func exportedDescriptorIsAPollableEventfd(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let semaphore = try connection.createSemaphore()
        let exported = try semaphore.export()
        var item = pollfd(fd: exported.rawValue, events: Int16(POLLIN), revents: 0)
        #expect(Glibc.poll(&item, 1, 0) == 0)
        semaphore.signal()
        #expect(Glibc.poll(&item, 1, 0) == 1)
    }

    @Test(arguments: TestBackend.virtioCases) func importRejectsDescriptorsThatAreNotSemaphores(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let buffer = try connection.createBuffer(size: 4096)
        expectStatus(.invalidArgs) { _ = try connection.importSemaphore(try buffer.export()) }
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        close(fds[1])
        expectStatus(.invalidArgs) { _ = try connection.importSemaphore(OwnedFileDescriptor(taking: fds[0])) }
        try connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func pollTimesOutThenReportsReadyItems(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let first = try connection.createSemaphore()
        let second = try connection.createSemaphore()
        let started = Clock.monotonicNanoseconds()
        expectStatus(.timedOut) { try Poll.wait([.semaphore(first), .semaphore(second)], timeoutNanoseconds: 20_000_000) }
        #expect(Clock.monotonicNanoseconds() - started >= 20_000_000)
        second.signal()
        #expect(try Poll.wait([.semaphore(first), .semaphore(second)], timeoutNanoseconds: 0) == [false, true])
        #expect(second.isSignaled, "poll never resets")
        expectStatus(.invalidArgs) { try Poll.wait([], timeoutNanoseconds: 0) }
    }

    @Test(arguments: TestBackend.virtioCases) func pollWakesWhenAnotherThreadSignals(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let semaphore = try connection.createSemaphore()
        try HostThread.spawn(name: "signaler") {
            usleep(20_000)
            semaphore.signal()
        }
        #expect(try Poll.wait([.semaphore(semaphore)], timeoutNanoseconds: 30_000_000_000) == [true])
    }

    @Test(.drmBackend(.skipped(.execution)), arguments: TestBackend.virtioCases) func pollOnTheNotificationChannel(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let idle = try session.connection.createSemaphore()
        expectStatus(.timedOut) { try Poll.wait([.notifications(session.connection)], timeoutNanoseconds: 10_000_000) }
        let (_, address) = try session.mappedBuffer(size: 4096)
        var stream = CommandStream()
        stream.fill(address: address, size: 4096, pattern: 1)
        try session.submit(stream)
        #expect(try Poll.wait([.semaphore(idle), .notifications(session.connection)], timeoutNanoseconds: 10_000_000_000) == [false, true])
        guard let message = try session.connection.readNotification() else {
            Issue.record("readable channel had no message")
            return
        }
        guard case .completed(let sequence, let status, _) = SoftGPUNotification(bytes: message) else {
            Issue.record("not a completion")
            return
        }
        #expect(sequence == 1 && status == 0)
        expectStatus(.timedOut) { try Poll.wait([.notifications(session.connection)], timeoutNanoseconds: 0) }
    }

    @Test(.drmBackend(.skipped(.connectionFailure)), arguments: TestBackend.virtioCases) func pollReportsConnectionLostOnceTheConnectionFailed(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let buffer = try connection.createBuffer(size: 4096)
        try connection.map(buffer, at: 0x1001, flags: .read)  // misaligned: closes the connection
        expectStatus(.connectionLost) { try Poll.wait([.notifications(connection)], timeoutNanoseconds: 1_000_000_000) }
        expectStatus(.connectionLost) { _ = try connection.readNotification() }
        expectStatus(.invalidArgs) { try connection.flush() }
    }
}
