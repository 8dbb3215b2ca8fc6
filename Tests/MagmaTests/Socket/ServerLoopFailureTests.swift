import Dispatch
import Foundation
import Logging
import MagmaDevices
@testable import MagmaPlatform
import MagmaProtocol
@testable import MagmaServer
import MagmaSystem
import MagmaTestSupport
import SoftGPU
import Synchronization
import Testing

/// A server whose event loop can no longer wait (its epoll descriptor replaced, as a kernel
/// failure would leave it) ends every connection, so its clients and their waiters see
/// CONNECTION_LOST at once, then stops by itself and says why; it never spins on the wait.
@Suite(.serialized, .hangGuard) struct ServerLoopFailureTests {
    @Test func aServerWhoseLoopFailsEndsEveryConnectionAndStops() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "magma-loopfail-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The server logs the failure as critical; the test says what it expects instead.
        let logger = Logger(label: "test-magmad") { _ in SwiftLogNoOpLogHandler() }
        let stopped = DispatchSemaphore(value: 0)
        let server = MagmaServer(device: try SystemDevice(driver: SoftGPUDriver()),
                                 configuration: .init(directory: directory, logger: logger, stoppedByFailure: { stopped.signal() }))
        try server.start()
        defer { server.stop() }

        let device = try Device.open(.socket(server.devicePath))
        let connections = try (0..<3).map { _ in try device.createConnection() }
        let semaphore = try connections[0].createSemaphore()
        try connections.forEach { try $0.flush() }
        // A waiter that would sit a minute unless the failure reaches it.
        let waited = Mutex<MagmaError?>(nil)
        let waiterEnded = DispatchSemaphore(value: 0)
        try HostThread.spawn(name: "test-waiter") {
            do throws(MagmaError) { try Poll.wait([.semaphore(semaphore)], timeoutNanoseconds: 60_000_000_000) } catch {
                waited.withLock { $0 = error }
            }
            waiterEnded.signal()
        }

        let loop = try #require(server.eventLoop)
        let nothing = open("/dev/null", O_RDONLY)
        #expect(dup2(nothing, loop.epollDescriptor) == loop.epollDescriptor)
        close(nothing)
        loop.after(nanoseconds: 0) {}   // wakes the wait in progress on the old epoll file

        #expect(stopped.wait(timeout: .now() + 20) == .success, "the server did not stop by itself")
        #expect(server.failure?.contains("epoll_wait") == true, "\(server.failure ?? "no failure")")
        #expect(waiterEnded.wait(timeout: .now() + 20) == .success, "the waiter was not woken")
        #expect(waited.withLock { $0?.status } == .connectionLost)
        for connection in connections { #expect(awaitError(connection)?.status == .connectionLost) }
        #expect(!FileManager.default.fileExists(atPath: server.devicePath), "the endpoint is gone")
        #expect(throws: MagmaError.self) { _ = try Device.open(.socket(server.devicePath)).createConnection() }
    }
}
