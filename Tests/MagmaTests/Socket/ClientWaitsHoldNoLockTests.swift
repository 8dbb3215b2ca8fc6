import Foundation
import MagmaDevices
import MagmaSocket
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Synchronization
import Testing

/// Issue 20, item 3: a client thread waiting for magmad (a flush to a stopped daemon) holds no
/// lock, so another thread's calls on the same connection are not held up behind it.
@Suite(.serialized, .hangGuard) struct ClientWaitsHoldNoLockTests {
    @Test func anotherThreadIsNotHeldBehindAFlushWaitingForAStoppedMagmad() throws {
        let daemon = try Daemon()
        _ = try openListening(daemon)
        let transport = try SocketDeviceTransport(path: daemon.devicePath, callTimeoutNanoseconds: 2_000_000_000)
        let connection = try Device.open(.backend(transport)).createConnection()
        try connection.flush()
        kill(daemon.pid, SIGSTOP)
        defer { kill(daemon.pid, SIGCONT) }
        try #require(eventually { allThreadsStopped(pid: daemon.pid) }, "magmad did not stop")
        let otherThreadDone = Atomic<Bool>(false)
        let flushFinished = Atomic<Bool>(false)
        let doneBeforeFlush = Atomic<Bool>(false)
        let waiter = Thread {
            // Give the flush a moment to start waiting; if this runs first, it passes anyway.
            usleep(200_000)
            _ = connection.error
            _ = try? connection.createSemaphore()   // a feed-forward send: room in the channel
            doneBeforeFlush.store(!flushFinished.load(ordering: .acquiring), ordering: .releasing)
            otherThreadDone.store(true, ordering: .releasing)
        }
        waiter.start()
        expectStatus(.timedOut) { try connection.flush() }
        flushFinished.store(true, ordering: .releasing)
        let otherReturned = eventually { otherThreadDone.load(ordering: .acquiring) }
        #expect(otherReturned)
        let returnedFirst = doneBeforeFlush.load(ordering: .acquiring)
        #expect(returnedFirst, "the other thread's calls returned while the flush waited")
        kill(daemon.pid, SIGCONT)
        try connection.flush()
        #expect(connection.error == nil)
        #expect(daemon.stop() == 0)
    }
}
