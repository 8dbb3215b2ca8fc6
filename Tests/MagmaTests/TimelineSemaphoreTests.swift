import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// Timeline semaphores through the public API: CPU and GPU signals, waits for future points,
/// out-of-order signals, wait-any and wait-all with binary semaphores, points that go
/// backwards, sharing across connections, and failed work ending every wait on the points it
/// was to signal. What needs no GPU work runs on the DRM device too (where it has timeline
/// syncobjs); the rest is cancelled there, saying why.
@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct TimelineSemaphoreTests {
    let devices = TestDevices()
    private static let patience: UInt64 = 60_000_000_000

    /// Submits work with no commands on `context`, with the given waits and signals.
    private func submitEmpty(_ connection: Connection, on context: Context, waits: [TimelinePoint] = [], signals: [TimelinePoint] = [],
                             waitSemaphores: [Semaphore] = [], signalSemaphores: [Semaphore] = []) throws {
        try connection.execute(on: context, CommandDescriptor(resources: [], commandBuffers: [],
                                                              waitSemaphores: waitSemaphores.map(\.id), signalSemaphores: signalSemaphores.map(\.id),
                                                              waitTimelinePoints: waits, signalTimelinePoints: signals))
    }

    @Test(.drmBackend(.runsWithTimelineSyncobjs), arguments: TestBackend.virtioCases) func pointsThatGoBackwardsAreRejectedAndChangeNothing(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let timeline = try connection.createTimelineSemaphore(initialValue: 5)
        #expect(timeline.id != invalidObjectId && timeline.value == 5)
        expectStatus(.invalidArgs) { try timeline.signal(to: 5) }
        expectStatus(.invalidArgs) { try timeline.signal(to: 2) }
        #expect(timeline.value == 5)
        try timeline.signal(to: 8)
        #expect(timeline.value == 8)
        expectStatus(.invalidArgs) { try timeline.signal(to: 7) }
        #expect(timeline.value == 8 && timeline.failure == nil)
        try timeline.wait(for: 8, timeoutNanoseconds: 0)
        expectStatus(.timedOut) { try timeline.wait(for: 9, timeoutNanoseconds: 1_000_000) }
        // A refused CPU signal is the caller's error only: the connection stays healthy.
        try connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func gpuWorkWaitsForAFuturePointAndSignalsItsOwn(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let context = try connection.createContext()
        let timeline = try connection.createTimelineSemaphore()
        let done = try connection.createSemaphore()
        try submitEmpty(connection, on: context, waits: [timeline.point(2)], signals: [timeline.point(3)], signalSemaphores: [done])
        try connection.flush()
        try timeline.signal(to: 1)
        // The work cannot have run: its point is not reached.
        #expect(!done.isSignaled && timeline.value == 1)
        try timeline.signal(to: 2)
        try timeline.wait(for: 3, timeoutNanoseconds: Self.patience)
        try SyncWait.all([.semaphore(done)], timeoutNanoseconds: Self.patience)
        #expect(timeline.value == 3)
        try connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func outOfOrderSignalsLeaveTheHighestPoint(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let first = try connection.createContext()
        let second = try connection.createContext()
        let timeline = try connection.createTimelineSemaphore()
        let gate = try connection.createSemaphore()
        let lateDone = try connection.createSemaphore()
        // The first context's work signals point 3 only once the gate opens; the second
        // context's work signals point 5 at once.
        try submitEmpty(connection, on: first, signals: [timeline.point(3)], waitSemaphores: [gate], signalSemaphores: [lateDone])
        try submitEmpty(connection, on: second, signals: [timeline.point(5)])
        // A waiter for the lower point is released by the higher one.
        try SyncWait.all([.timeline(timeline, 3), .timeline(timeline, 5)], timeoutNanoseconds: Self.patience)
        gate.signal()
        try SyncWait.all([.semaphore(lateDone)], timeoutNanoseconds: Self.patience)
        // The late signal of a passed point changes nothing and fails nothing.
        #expect(timeline.value == 5 && timeline.failure == nil)
        try connection.flush()
    }

    @Test(.drmBackend(.runsWithTimelineSyncobjs), arguments: TestBackend.virtioCases) func waitAnyAndWaitAllMixTimelinesAndBinarySemaphores(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let a = try connection.createTimelineSemaphore()
        let b = try connection.createTimelineSemaphore(initialValue: 10)
        let binary = try connection.createSemaphore()
        let points: [SyncPoint] = [.timeline(a, 4), .timeline(b, 12), .semaphore(binary)]
        expectStatus(.timedOut) { try SyncWait.any(points, timeoutNanoseconds: 1_000_000) }
        try b.signal(to: 12)
        #expect(try SyncWait.any(points, timeoutNanoseconds: Self.patience) == [false, true, false])
        expectStatus(.timedOut) { try SyncWait.all(points, timeoutNanoseconds: 1_000_000) }
        binary.signal()
        expectStatus(.timedOut) { try SyncWait.all(points, timeoutNanoseconds: 1_000_000) }
        try a.signal(to: 6)
        try SyncWait.all(points, timeoutNanoseconds: Self.patience)
        #expect(a.value == 6)
        expectStatus(.invalidArgs) { try SyncWait.all([], timeoutNanoseconds: 0) }
    }

    @Test(.drmBackend(.runsWithTimelineSyncobjs), arguments: TestBackend.virtioCases) func aWaitForAFuturePointWakesOnAnotherThreadsSignal(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let timeline = try connection.createTimelineSemaphore()
        try HostThread.spawn(name: "test.signal") { for point in 1...3 { try? timeline.signal(to: UInt64(point)) } }
        try timeline.wait(for: 3, timeoutNanoseconds: Self.patience)
        #expect(timeline.value == 3)
    }

    @Test(.drmBackend(.runsWithTimelineSyncobjs), arguments: TestBackend.virtioCases) func anExportedTimelineSharesItsValueAcrossConnections(_ backend: TestBackend) throws {
        let device = try devices.open(backend)
        let a = try device.createConnection()
        let b = try device.createConnection()
        let original = try a.createTimelineSemaphore(initialValue: 1)
        let imported = try b.importTimelineSemaphore(try original.export())
        #expect(imported.value == 1 && imported.id != invalidObjectId)
        try imported.signal(to: 2)
        #expect(original.value == 2)
        expectStatus(.invalidArgs) { try original.signal(to: 2) }
        try SyncWait.any([.timeline(imported, 2)], timeoutNanoseconds: 0)
        try a.flush()
        try b.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func gpuWorkOfAnotherConnectionWaitsAndSignals(_ backend: TestBackend) throws {
        let device = try devices.open(backend)
        let a = try device.createConnection()
        let b = try device.createConnection()
        let original = try a.createTimelineSemaphore(initialValue: 2)
        let imported = try b.importTimelineSemaphore(try original.export())
        // Work on b waits for a point a signals, and signals one a waits for.
        let context = try b.createContext()
        try submitEmpty(b, on: context, waits: [imported.point(3)], signals: [imported.point(4)])
        try original.signal(to: 3)
        try original.wait(for: 4, timeoutNanoseconds: Self.patience)
        try a.flush()
        try b.flush()
    }

    @Test(.drmBackend(.skipped(.syncobjKinds)), arguments: TestBackend.virtioCases) func importRejectsWhatIsNotATimeline(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let buffer = try connection.createBuffer(size: 4096)
        let semaphore = try connection.createSemaphore()
        let timeline = try connection.createTimelineSemaphore()
        expectStatus(.invalidArgs) { _ = try connection.importTimelineSemaphore(try buffer.export()) }
        expectStatus(.invalidArgs) { _ = try connection.importTimelineSemaphore(try semaphore.export()) }
        expectStatus(.invalidArgs) { _ = try connection.importSemaphore(try timeline.export()) }
        try connection.flush()
    }

    @Test(.drmBackend(.runsWithTimelineSyncobjs), arguments: TestBackend.virtioCases) func releaseFollowsTheOwnershipRules(_ backend: TestBackend) throws {
        let device = try devices.open(backend)
        let connection = try device.createConnection()
        let other = try device.createConnection()
        let timeline = try connection.createTimelineSemaphore()
        expectStatus(.invalidArgs) { try other.release(timeline) }
        try connection.release(timeline)
        expectStatus(.invalidArgs) { try connection.release(timeline) }
        expectStatus(.invalidArgs) { try timeline.signal(to: 1) }
        expectStatus(.badState) { try timeline.wait(for: 1, timeoutNanoseconds: 0) }
        try connection.flush()
        try other.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func workThatFaultsEndsEveryWaitOnItsPoints(_ backend: TestBackend) throws {
        let device = try devices.open(backend, own: SoftGPUConfiguration())
        let session = try GPUSession(device: device)
        let bystander = try device.createConnection()
        let timeline = try session.connection.createTimelineSemaphore()
        let shared = try bystander.importTimelineSemaphore(try timeline.export())
        var stream = CommandStream()
        stream.copy(from: 0x7000_0000, to: 0x7100_0000, size: 4)
        let commands = try session.connection.createBuffer(size: 4096)
        try commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        try session.connection.execute(on: session.context, CommandDescriptor(
            resources: [BufferRange(bufferId: commands.id, offset: 0, length: UInt64(stream.bytes.count))],
            commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], signalTimelinePoints: [timeline.point(1)]))
        // Another connection's wait for the point ends with the failure, not at its timeout,
        // and that connection stays healthy.
        expectStatus(.contextKilled) { try shared.wait(for: 1, timeoutNanoseconds: Self.patience) }
        #expect(shared.failure?.status == .contextKilled && shared.value == 0)
        try bystander.flush()
        // GPU work waiting for a point of the failed timeline can never run: it fails too.
        let context = try bystander.createContext()
        try submitEmpty(bystander, on: context, waits: [shared.point(1)])
        #expect(awaitError(bystander)?.status == .contextKilled)
        #expect(awaitError(session.connection)?.status == .contextKilled)
    }

    @Test(arguments: TestBackend.virtioCases) func runawayWorkTheWatchdogStopsEndsEveryWaitOnItsPoints(_ backend: TestBackend) throws {
        let device = try devices.open(backend, own: SoftGPUConfiguration(watchdogNanoseconds: 200_000_000))
        let session = try GPUSession(device: device)
        let waiter = try device.createConnection()
        let timeline = try session.connection.createTimelineSemaphore()
        let shared = try waiter.importTimelineSemaphore(try timeline.export())
        let program = try session.loadProgram(Kernels.barrierLoop)
        var stream = CommandStream()
        stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: 1, workgroupSize: 1, arguments: [])
        let commands = try session.connection.createBuffer(size: UInt64(stream.bytes.count))
        try commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        try session.connection.execute(on: session.context, CommandDescriptor(
            resources: [BufferRange(bufferId: commands.id, offset: 0, length: UInt64(stream.bytes.count))],
            commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], signalTimelinePoints: [timeline.point(1)]))
        expectStatus(.contextKilled) { try SyncWait.all([.timeline(shared, 1)], timeoutNanoseconds: Self.patience) }
        #expect(awaitError(session.connection)?.status == .contextKilled)
        try waiter.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func workAbandonedWithItsContextFailsItsTimelines(_ backend: TestBackend) throws {
        let device = try devices.open(backend)
        let owner = try device.createConnection()
        let waiter = try device.createConnection()
        let timeline = try owner.createTimelineSemaphore()
        let shared = try waiter.importTimelineSemaphore(try timeline.export())
        let never = try owner.createSemaphore()
        let context = try owner.createContext()
        try submitEmpty(owner, on: context, signals: [timeline.point(1)], waitSemaphores: [never])
        try owner.flush()
        try owner.release(context)
        expectStatus(.contextKilled) { try SyncWait.any([.timeline(shared, 1)], timeoutNanoseconds: Self.patience) }
        try waiter.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func aWaitEndsWhenItsConnectionFails(_ backend: TestBackend) throws {
        let device = try devices.open(backend, own: SoftGPUConfiguration())
        let session = try GPUSession(device: device)
        let timeline = try session.connection.createTimelineSemaphore()
        var stream = CommandStream()
        stream.copy(from: 0x7000_0000, to: 0x7100_0000, size: 4)
        try session.submit(stream)
        // Nothing signals the timeline; the connection's fault ends the wait.
        expectStatus(.contextKilled) { try timeline.wait(for: 1, timeoutNanoseconds: Self.patience) }
    }
}
