import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// SoftGPU's scheduler: time slices between contexts of equal priority, preemption by higher
/// priorities, and preempted work that resumes exactly where it stopped.
@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct SchedulingTests {
    let devices = TestDevices()

    private func device(on backend: TestBackend, timeSlice: UInt64 = 2_000_000, watchdog: UInt64 = 10_000_000_000) throws -> Device {
        try devices.open(backend, own: SoftGPUConfiguration(watchdogNanoseconds: watchdog, timeSliceNanoseconds: timeSlice))
    }

    /// Submits a program that spins until the u32 at `flagAddress` is non-zero.
    private func spin(_ session: GPUSession, flagAddress: UInt64, on context: Context, signal: Semaphore) throws {
        let program = try session.loadProgram(Kernels.spinUntilFlag)
        var stream = CommandStream()
        stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: 1, workgroupSize: 1,
                        arguments: [flagAddress])
        try session.submit(stream, signals: [signal], on: context)
    }

    /// Spins on a flag on the session's context; only `releaser`'s fill of that flag can end it.
    /// Waits for both, the release within `releaseTimeout`.
    private func spinAndRelease(_ session: GPUSession, from releaser: Context, releaseTimeout: UInt64 = 120_000_000_000) throws {
        let (_, flagAddress) = try session.mappedBuffer(size: 4096)
        let spinning = try session.connection.createSemaphore()
        let releasing = try session.connection.createSemaphore()
        try spin(session, flagAddress: flagAddress, on: session.context, signal: spinning)
        var release = CommandStream()
        release.fill(address: flagAddress, size: 4, pattern: 1)
        try session.submit(release, signals: [releasing], on: releaser)
        try session.waitFor(releasing, timeoutNanoseconds: releaseTimeout)
        try session.waitFor(spinning)
    }

    @Test(arguments: TestBackend.virtioCases) func timeSlicesLetAnotherContextRunWhileOneSpins(_ backend: TestBackend) throws {
        let session = try GPUSession(device: try device(on: backend))
        let started = Clock.monotonicNanoseconds()
        try spinAndRelease(session, from: try session.connection.createContext())
        #expect(Clock.monotonicNanoseconds() - started < 2_000_000_000)
    }

    /// Embedded only: a priority above medium needs a trusted client, and socket clients never are.
    @Test func higherPriorityPreemptsRunningWorkAtOnce() throws {
        // A 10 s slice: only priority preemption can let the releasing work run.
        let session = try GPUSession(device: try device(on: .embedded, timeSlice: 10_000_000_000), priority: .low)
        try spinAndRelease(session, from: try session.connection.createContext(priority: .high), releaseTimeout: 2_000_000_000)
    }

    @Test(arguments: TestBackend.virtioCases) func withoutASliceEndEqualPrioritiesWaitAndTheWatchdogStopsTheSpinner(_ backend: TestBackend) throws {
        let device = try device(on: backend, timeSlice: 10_000_000_000, watchdog: 300_000_000)
        let spinner = try GPUSession(device: device)
        let bystander = try GPUSession(device: device)
        let (_, flagAddress) = try spinner.mappedBuffer(size: 4096)
        let spinning = try spinner.connection.createSemaphore()
        try spin(spinner, flagAddress: flagAddress, on: spinner.context, signal: spinning)
        #expect(try bystander.fillsCorrectly(pattern: 5))
        #expect(awaitError(spinner.connection)?.status == .contextKilled)
    }

    @Test(arguments: TestBackend.allCases) func aPreemptedDispatchResumesAndFinishesCorrectly(_ backend: TestBackend) throws {
        let session = try GPUSession(device: try device(on: backend, watchdog: 120_000_000_000))
        let other = try session.connection.createContext()
        let count = 1 << 20
        var (add, z) = try session.vectorAdd(count: count, x: { Float($0) }, y: { _ in 0.5 })
        let (big, bigAddress) = try session.mappedBuffer(size: 32 << 20)
        add.fill(address: bigAddress, size: 32 << 20, pattern: 0xB16)   // a long fill, preempted part-way too
        let added = try session.connection.createSemaphore()
        try session.submit(add, signals: [added])
        // Small work on another context finishes long before the big one.
        let (mark, markAddress) = try session.mappedBuffer(size: 4096)
        var small = CommandStream()
        small.fill(address: markAddress, size: 4, pattern: 7)
        let marked = try session.connection.createSemaphore()
        try session.submit(small, signals: [marked], on: other)
        try session.waitFor(marked)
        #expect(!added.isSignaled, "the small work ran while the big one was preempted")
        #expect(try mark.u32(at: 0) == 7)
        try session.waitFor(added)
        let zs = try z.contents.bindMemory(to: Float.self, capacity: count)
        var mismatches = 0
        for i in 0..<count where zs[i] != Float(i) + 0.5 { mismatches += 1 }
        #expect(mismatches == 0)
        #expect(try big.u32s(8 << 20).allSatisfy { $0 == 0xB16 })
    }
}
