import Foundation
import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Testing

/// Whether the server closed `socket` (end of stream) within `timeoutNanoseconds`.
private func closedByServer(_ socket: MessageSocket, timeoutNanoseconds: UInt64 = 5_000_000_000) -> Bool {
    guard (try? Poller.poll([PollRequest(descriptor: socket.descriptor.fileDescriptor)], timeoutNanoseconds: timeoutNanoseconds).first) == true,
          case .endOfStream? = try? socket.receive(capacity: 64, wait: false) else { return false }
    return true
}

/// Issue 13, item 4, and issue 20: idle device sockets cannot use up the daemon's sessions, and
/// cost it no threads.
@Suite(.serialized, .hangGuard) struct ThreadExhaustionTests {
    @Test func oneProcessHoldsAtMostItsSessions() throws {
        let daemon = try BoundedDaemon(options: ["--max-sessions-per-process", "8"])
        let idle = (0..<50).compactMap { _ in try? MessageSocket.connect(path: daemon.devicePath) }
        #expect(idle.count == 50)
        let refused = idle.filter { closedByServer($0, timeoutNanoseconds: 200_000_000) }.count
        #expect(refused == 42, "all but 8 sessions closed at once")
        #expect(demoBystanderSucceeds(daemon.devicePath), "another process is served during the attack")
        #expect(daemon.isAlive)
        #expect(daemon.stop() == 0)
    }

    /// Under a task bound far below its sessions (a pids cgroup), magmad serves them all: it
    /// runs a fixed set of threads, started before any client came.
    @Test func aThreadBoundBelowTheSessionsRefusesNone() throws {
        guard let cgroup = TestCgroup(controller: "pids", settings: ["pids.max": "24"]) else {
            print("skipped: no writable pids cgroup (/sys/fs/cgroup/pids) to bound magmad's threads")
            return
        }
        let daemon = try BoundedDaemon(cgroup: cgroup, options: ["--max-sessions-per-process", "1000", "--max-sessions-per-user", "1000"])
        #expect(answersQuery(daemon.devicePath))
        let idle = (0..<100).compactMap { _ in try? MessageSocket.connect(path: daemon.devicePath) }
        #expect(idle.count == 100)
        #expect(answersQuery(daemon.devicePath), "a session past the task bound is served")
        #expect(!idle.contains { closedByServer($0, timeoutNanoseconds: 0) }, "no idle session was refused")
        #expect(daemon.isAlive)
        #expect(demoBystanderSucceeds(daemon.devicePath))
        #expect(daemon.stop() == 0)
        withExtendedLifetime((cgroup, idle)) {}
    }
}
