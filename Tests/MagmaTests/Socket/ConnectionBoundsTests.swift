import Foundation
import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Testing

/// Issue 13, item 9: one client cannot take every connection slot; the bounds hold per
/// process and per user, and a refused connection learns why (MEMORY_ERROR).
@Suite(.serialized, .hangGuard) struct ConnectionBoundsTests {
    @Test func oneProcessHoldsAtMostItsConnections() throws {
        let daemon = try BoundedDaemon(options: ["--max-connections-per-process", "4"])
        var clients: [RawClient] = []
        var admissions: [MagmaStatus?] = []
        for _ in 0..<10 {
            let client = try RawClient(path: daemon.devicePath)
            admissions.append(client.admission())
            clients.append(client)
        }
        #expect(admissions == Array(repeating: .ok, count: 4) + Array(repeating: .memoryError, count: 6))
        #expect(demoBystanderSucceeds(daemon.devicePath), "another process is served during the attack")
        #expect(clients.prefix(4).allSatisfy { $0.answersFlush() })
        #expect(daemon.stop() == 0)
    }

    @Test func oneUserHoldsAtMostItsConnections() throws {
        guard getuid() == 0, access("/usr/bin/setpriv", X_OK) == 0 else {
            print("skipped: needs root and setpriv to run the bystander as another user")
            return
        }
        let daemon = try BoundedDaemon(options: ["--max-connections-per-user", "4", "--max-connections-per-process", "100"])
        var clients: [RawClient] = []
        var admissions: [MagmaStatus?] = []
        for _ in 0..<8 {
            let client = try RawClient(path: daemon.devicePath)
            admissions.append(client.admission())
            clients.append(client)
        }
        #expect(admissions == Array(repeating: .ok, count: 4) + Array(repeating: .memoryError, count: 4))
        #expect(demoBystanderSucceeds(daemon.devicePath, uid: 65534), "another user is served during the attack")
        #expect(clients.prefix(4).allSatisfy { $0.answersFlush() })
        #expect(daemon.stop() == 0)
    }
}
