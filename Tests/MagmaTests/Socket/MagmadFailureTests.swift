import Foundation
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Testing

/// What a client of a real magmad sees when its work fails or magmad dies.
@Suite(.serialized, .hangGuard) struct MagmadFailureTests {
    @Test func failedWorkEndsASemaphoreWaitWithContextKilled() throws {
        let daemon = try Daemon()
        let device = try openListening(daemon)
        for failure in [FailingWork.unmappedRead, .illegalCommand, .destroyedContext] {
            for run in 0..<FailureReachesWaiterTests.repetitions {
                let session = try GPUSession(device: device)
                let done = try session.connection.createSemaphore()
                try failure.submit(on: session, signaling: done)
                expectStatus(.contextKilled) { try Poll.wait([.semaphore(done)], timeoutNanoseconds: FailureReachesWaiterTests.longTimeout) }
                #expect(!done.isSignaled, "\(failure), run \(run)")
                let reason = session.connection.error?.message ?? ""
                #expect(!reason.isEmpty && reason != "closed by the server", "magmad sends the reason: \(reason)")
            }
        }
        #expect(daemon.stop() == 0)
    }

    /// The notification channel's hang-up alone (the primary channel may close a moment
    /// later) means the connection is lost.
    @Test func aNotificationWaitOnAKilledMagmadIsAlwaysConnectionLost() throws {
        var outcomes: [String: Int] = [:]
        for run in 0..<50 {
            let daemon = try Daemon()
            let session = try GPUSession(device: try openListening(daemon))
            try session.connection.flush()
            let connection = session.connection
            let outcome = Locked<String?>(nil)
            let finished = try EventSemaphore()
            try HostThread.spawn(name: "waiter") {
                let seen: String
                do {
                    try Poll.wait([.notifications(connection)], timeoutNanoseconds: 20_000_000_000)
                    seen = "ready"
                } catch let error as MagmaError {
                    seen = "\(error.status)"
                } catch {
                    seen = "\(error)"
                }
                outcome.withLock { $0 = seen }
                finished.signal()
            }
            usleep(5_000)   // let the waiter block in poll, where the race was
            kill(daemon.pid, SIGKILL)
            daemon.process.waitUntilExit()
            guard finished.wait(timeoutNanoseconds: 30_000_000_000) else {
                Issue.record("run \(run): the wait did not end")
                return
            }
            outcomes[outcome.withLock { $0 } ?? "none", default: 0] += 1
        }
        #expect(outcomes == ["\(MagmaStatus.connectionLost)": 50])
    }

    @Test func aDemoEndsWithConnectionLostWhenMagmadIsKilled() throws {
        let daemon = try Daemon()
        let idle = settledDescriptorCount(pid: daemon.pid)
        let demo = Process()
        demo.executableURL = try BuiltExecutables.url("magmactl")
        demo.arguments = ["demo", "--device", daemon.devicePath, "--elements", "16777216"]
        let output = Pipe()
        demo.standardOutput = output
        demo.standardError = output
        try demo.run()
        defer { if demo.isRunning { kill(demo.processIdentifier, SIGKILL) } }
        // Mid-demo: its connection is open (two channels more in magmad) and magmad's engine
        // has been running its work for a moment (three clock ticks of CPU; the largest demo
        // keeps it busy well past that).
        #expect(eventually { openDescriptorCount(pid: daemon.pid) >= idle + 2 || !demo.isRunning })
        let cpuBefore = cpuTicks(pid: daemon.pid)
        #expect(eventually { cpuTicks(pid: daemon.pid) >= cpuBefore + 3 || !demo.isRunning })
        #expect(demo.isRunning, "the demo ended before magmad was killed")
        kill(daemon.pid, SIGKILL)
        daemon.process.waitUntilExit()
        let killed = Clock.monotonicNanoseconds()
        let ended = eventually(timeoutNanoseconds: 20_000_000_000) { !demo.isRunning }
        let seconds = Double(Clock.monotonicNanoseconds() - killed) / 1e9
        #expect(ended, "magmactl demo still runs \(seconds) s after magmad was killed")
        guard ended else { return }
        demo.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(demo.terminationStatus != 0)
        #expect(text.contains("\(MagmaStatus.connectionLost)"), "\(text)")
    }
}

/// The CPU time (user + system, in clock ticks) process `pid` has used.
func cpuTicks(pid: Int32) -> Int {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let afterName = stat.range(of: ") ", options: .backwards) else { return 0 }
    let fields = stat[afterName.upperBound...].split(separator: " ")
    // Fields 14 and 15 of the line; the first field after the name is field 3.
    guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return 0 }
    return user + system
}

/// The daemon's device, once it listens (its endpoint exists from bind, a moment before listen).
func openListening(_ daemon: Daemon) throws -> Device {
    var device: Device?
    _ = eventually { device = try? Device.open(.socket(daemon.devicePath)); return device != nil }
    return try device ?? Device.open(.socket(daemon.devicePath))
}
