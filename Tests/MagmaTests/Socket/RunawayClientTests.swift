import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import SoftGPU
import MagmaTestSupport
import Testing

/// Runaway GPU work sent to a real magmad (2 s watchdog): a bystander's verified fills complete
/// during and after, the attacker alone is killed, its work stops when it leaves, and a backlog
/// on many contexts does not hold a bystander back.
@Suite(.serialized, .hangGuard) struct RunawayClientTests {
    private func session(_ daemon: Daemon) throws -> GPUSession {
        try GPUSession(device: try Device.open(.socket(daemon.devicePath)))
    }

    @Test(arguments: RunawayWork.allCases)
    func onlyTheAttackerIsKilledAndTheBystanderKeepsRunning(_ work: RunawayWork) throws {
        let daemon = try Daemon()
        let bystander = try session(daemon)
        #expect(try bystander.verifiedFill(pattern: 1))
        let attacker = try session(daemon)
        try work.submit(on: attacker)
        #expect(try bystander.device.awaitBusy())
        for round in 0..<3 { #expect(try bystander.verifiedFill(pattern: UInt32(10 + round)), "during \(work)") }
        #expect(awaitError(attacker.connection, timeoutNanoseconds: 20_000_000_000)?.status == .contextKilled)
        #expect(bystander.connection.error == nil)
        #expect(try bystander.verifiedFill(pattern: 99), "after \(work)")
        #expect(daemon.stop() == 0)
    }

    @Test(arguments: RunawayWork.allCases)
    func theWorkStopsWhenTheAttackerLeaves(_ work: RunawayWork) throws {
        let daemon = try Daemon()
        let bystander = try session(daemon)
        let attacker = try session(daemon)
        let before = try bystander.device.busyNanoseconds()   // idle until the attacker submits
        try work.submit(on: attacker)
        #expect(try bystander.device.awaitBusy())
        attacker.connection.release()
        let idle = try bystander.device.busyTimeOnceIdle()
        #expect(idle != nil, "the GPU went idle after \(work)'s client left")
        // Far less than the watchdog's 2 s: the work stopped when its client left, not when
        // its budget ran out.
        #expect((idle ?? .max) - before < 1_500_000_000, "GPU time of the attacker's work: \((idle ?? .max) - before) ns")
        #expect(try bystander.verifiedFill(pattern: 5))
        #expect(daemon.stop() == 0)
    }

    @Test func aBacklogOnManyContextsDoesNotHoldBackABystander() throws {
        let daemon = try Daemon()
        let outcome = try BacklogScenario(contexts: 8, jobsPerContext: 3).run(attacker: try session(daemon), bystander: try session(daemon))
        #expect(outcome.startedWhileQueued <= 2,
                "backlog jobs started: \(outcome.startedWhenQueued) once queued, \(outcome.startedBeforeBystander) when the bystander ran")
        #expect(Int(outcome.startedBeforeBystander) < outcome.total, "the bystander ran before the backlog drained")
        #expect(daemon.stop() == 0)
    }
}
