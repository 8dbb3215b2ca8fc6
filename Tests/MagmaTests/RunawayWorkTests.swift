import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import SoftGPU
import MagmaTestSupport
import Testing

/// Runaway GPU work on an in-process device: the watchdog stops it while a bystander keeps
/// running, it stops as soon as nobody waits for it, and a backlog on many contexts does not
/// hold a bystander back.
@Suite(.serialized, .hangGuard) struct RunawayWorkTests {
    private func device(watchdog: UInt64) throws -> Device {
        try Device.open(.inProcess(SoftGPUDriver(configuration: SoftGPUConfiguration(
            watchdogNanoseconds: watchdog, timeSliceNanoseconds: 2_000_000))))
    }

    @Test(arguments: RunawayWork.allCases)
    func theWatchdogStopsItWhileABystanderRuns(_ work: RunawayWork) throws {
        let device = try device(watchdog: 300_000_000)
        let bystander = try GPUSession(device: device)
        let attacker = try GPUSession(device: device)
        try work.submit(on: attacker)
        #expect(try device.awaitBusy())
        for round in 0..<3 { #expect(try bystander.verifiedFill(pattern: UInt32(10 + round)), "during \(work)") }
        #expect(awaitError(attacker.connection)?.status == .contextKilled)
        #expect(try attacker.notifications().contains { if case .hang = $0 { true } else { false } })
        #expect(bystander.connection.error == nil)
        #expect(try bystander.verifiedFill(pattern: 99), "after \(work)")
    }

    @Test(arguments: RunawayWork.allCases)
    func itStopsWhenItsConnectionIsReleased(_ work: RunawayWork) throws {
        // A watchdog far longer than the test: only the release can stop the work.
        let device = try device(watchdog: 600_000_000_000)
        let attacker = try GPUSession(device: device)
        try work.submit(on: attacker)
        #expect(try device.awaitBusy())
        attacker.connection.release()
        #expect(try device.busyTimeOnceIdle() != nil, "the GPU went idle after \(work)'s connection was released")
        #expect(try GPUSession(device: device).verifiedFill(pattern: 7))
    }

    @Test func itStopsWhenItsContextIsDestroyed() throws {
        let device = try device(watchdog: 600_000_000_000)
        let session = try GPUSession(device: device)
        let doomed = try session.connection.createContext()
        let program = try session.loadProgram(Kernels.barrierLoop)
        var stream = CommandStream()
        stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: 1, workgroupSize: 64, arguments: [])
        try session.submit(stream, on: doomed)
        #expect(try device.awaitBusy())
        try session.connection.release(doomed)
        #expect(try device.busyTimeOnceIdle() != nil, "the GPU went idle after the context was destroyed")
        // Work abandoned with its context never signals, so its connection fails (its waiters
        // learn of it); the device serves everyone else.
        #expect(awaitError(session.connection)?.status == .contextKilled)
        #expect(try GPUSession(device: device).verifiedFill(pattern: 3))
    }

    @Test func aBacklogOnManyContextsLetsABystanderInWithinTwoTurns() throws {
        let device = try device(watchdog: 60_000_000_000)
        let outcome = try BacklogScenario(contexts: 8, jobsPerContext: 3).run(attacker: try GPUSession(device: device),
                                                                             bystander: try GPUSession(device: device))
        // The backlog job running when the bystander submitted, and the one whose turn came
        // before the bystander's: no more, whatever the backlog's number of contexts.
        #expect(outcome.startedWhileQueued <= 2,
                "backlog jobs started: \(outcome.startedWhenQueued) once queued, \(outcome.startedBeforeBystander) when the bystander ran")
        #expect(Int(outcome.startedBeforeBystander) < outcome.total, "the bystander ran before the backlog drained")
    }
}
