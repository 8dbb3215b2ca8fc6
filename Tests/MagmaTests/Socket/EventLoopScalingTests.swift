import Foundation
import Glibc
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Testing

/// The threads of process `pid` now (/proc/<pid>/task).
func threadCount(pid: Int32) -> Int {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).count
}

/// Issue 20, item 1: magmad serves every client from one event loop and a fixed pool of
/// workers, so idle connections and sessions cost it no threads.
@Suite(.serialized, .hangGuard) struct EventLoopScalingTests {
    static let connections = 500

    @Test func idleConnectionsAddNoThreadsAndAllStayServed() throws {
        let bound = String(Self.connections + 10)
        let daemon = try BoundedDaemon(openFiles: 4 * Self.connections + 256,
                                       options: ["--max-connections-per-process", bound, "--max-connections-per-user", bound,
                                                 "--max-sessions-per-process", "100", "--max-sessions-per-user", "100"])
        let device = try Device.open(.socket(daemon.devicePath))
        let warm = try device.createConnection()
        try warm.flush()
        let before = threadCount(pid: daemon.pid)
        var open: [Connection] = []
        for _ in 0..<Self.connections { open.append(try device.createConnection()) }
        var flushed = 0
        for connection in open where (try? connection.flush()) != nil { flushed += 1 }
        let sessions = (0..<50).compactMap { _ in try? MessageSocket.connect(path: daemon.devicePath) }
        #expect(sessions.count == 50)
        #expect(answersQuery(daemon.devicePath), "a query on yet another session is answered")
        let after = threadCount(pid: daemon.pid)
        print("magmad threads: \(before) with one connection, \(after) with \(Self.connections + 1) connections and \(sessions.count) more sessions")
        #expect(flushed == Self.connections, "every idle connection still answers")
        // Two connections per thread (the design this replaced) would add a thousand; a few
        // threads of the GPU engine's dispatch pool may come and go.
        #expect(after <= before + 4, "threads do not grow with the clients (\(before) → \(after))")
        #expect(freshBystanderSucceeds(daemon.devicePath), "a newcomer's GPU work is served")
        withExtendedLifetime((open, sessions)) {}
        #expect(daemon.stop() == 0)
    }
}
