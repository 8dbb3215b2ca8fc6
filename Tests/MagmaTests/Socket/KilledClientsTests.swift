import Foundation
import Glibc
import MagmaPlatform
import MagmaTestSupport
import Testing

/// Issue 20 (the kill -9 figure, at a test's size): clients killed with SIGKILL at seeded
/// random points of their work leave magmad as it was: its descriptors and threads come back
/// to the baseline, and it goes on serving.
@Suite(.serialized, .hangGuard) struct KilledClientsTests {
    static let waves = 4
    static let clientsPerWave = 10

    @Test func clientsKilledAtRandomPointsLeaveNothingBehind() throws {
        var random = SeededRandom(for: "kill points")
        let bound = String(Self.clientsPerWave + 8)
        let daemon = try BoundedDaemon(options: ["--max-sessions-per-user", bound, "--max-connections-per-user", bound])
        #expect(demoBystanderSucceeds(daemon.devicePath))
        let baseline = settledDescriptorCount(pid: daemon.pid)
        let threads = threadCount(pid: daemon.pid)
        let magmactl = try BuiltExecutables.url("magmactl")
        for _ in 0..<Self.waves {
            var clients: [(process: Process, killAfter: UInt32)] = []
            for _ in 0..<Self.clientsPerWave {
                let process = Process()
                process.executableURL = magmactl
                process.arguments = ["demo", "--device", daemon.devicePath, "--elements", "65536"]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                clients.append((process, UInt32.random(in: 0..<400_000, using: &random)))
            }
            var elapsed: UInt32 = 0
            for (process, killAfter) in clients.sorted(by: { $0.killAfter < $1.killAfter }) {
                if killAfter > elapsed {
                    usleep(killAfter - elapsed)
                    elapsed = killAfter
                }
                kill(process.processIdentifier, SIGKILL)
            }
            clients.forEach { $0.process.waitUntilExit() }
        }
        #expect(descriptorsReturn(to: baseline, pid: daemon.pid), "\(random)")
        let threadsAfter = threadCount(pid: daemon.pid)
        #expect(threadsAfter <= threads + 4, "threads \(threads) → \(threadsAfter)")
        #expect(daemon.isAlive)
        #expect(demoBystanderSucceeds(daemon.devicePath), "magmad still serves")
        #expect(daemon.stop() == 0)
    }
}
