import Glibc
@testable import Magma
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// Timeline sync objects of the Mesa face, beside binary ones, on every backend: CPU signals
/// and waits, submissions that wait for and signal points (by command buffer and by GPU
/// address), mixed waits, failures, export and import, and what the device claims.
@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct MesaTimelineTests {
    let devices = MesaTestDevices()

    @Test(.drmBackend(.skipped(.queues)), arguments: TestBackend.virtioCases) func aTimelineSignalsAndWaitsForPointsFromTheCPU(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let timeline = try session.device.createSyncObject(.timeline(initialValue: 3))
        #expect(timeline.kind == .timeline(initialValue: 3))
        #expect(try timeline.value() == 3)
        try timeline.wait(for: 2, timeoutNanoseconds: 0)
        expectStatus(.timedOut) { try timeline.wait(for: 4, timeoutNanoseconds: 1_000_000) }
        try timeline.signal(to: 7)
        #expect(try timeline.value() == 7)
        expectStatus(.invalidArgs) { try timeline.signal(to: 7) }
        expectStatus(.invalidArgs) { try timeline.signal(to: 5) }
        #expect(try timeline.value() == 7)
        // A wait for a later point wakes for a signal from another thread.
        try HostThread.spawn(name: "timeline-signaler") { try? timeline.signal(to: 9) }
        try timeline.wait(for: 9, timeoutNanoseconds: 60_000_000_000)
        #expect(try timeline.value() == 9)
    }

    @Test(.drmBackend(.skipped(.queues)), arguments: TestBackend.virtioCases) func callsForTheOtherKindAreInvalidArgs(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let timeline = try session.device.createSyncObject(.timeline(initialValue: 0))
        let binary = try session.device.createSyncObject()
        expectStatus(.invalidArgs) { try timeline.signal() }
        expectStatus(.invalidArgs) { try timeline.reset() }
        expectStatus(.invalidArgs) { _ = try timeline.isSignaled() }
        expectStatus(.invalidArgs) { try timeline.wait(timeoutNanoseconds: 0) }
        expectStatus(.invalidArgs) { try SyncObject.waitAll([timeline], timeoutNanoseconds: 0) }
        expectStatus(.invalidArgs) { _ = try binary.value() }
        expectStatus(.invalidArgs) { try binary.signal(to: 1) }
        expectStatus(.invalidArgs) { try binary.wait(for: 1, timeoutNanoseconds: 0) }
        expectStatus(.invalidArgs) { try SyncObject.waitAll([binary.point(1)], timeoutNanoseconds: 0) }
        // A submission naming a point of a binary sync object submits nothing.
        let (target, address) = try session.mappedBuffer(size: 4096)
        let commands = try session.commandBuffer(fillStream(address: address, size: 4096, pattern: 1))
        expectStatus(.invalidArgs) {
            try session.queue.submit(SubmitInfo(commands: .buffer(commands, offset: 0, length: commands.size), waits: [], signals: [binary.point(2)]))
        }
        try session.space.connection.flush()
        #expect(try target.u32s(1) == [0])
        #expect(session.space.error == nil)
    }

    @Test(arguments: TestBackend.virtioCases) func submissionsWaitForAndSignalPointsAcrossQueuesAndAddressSpaces(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let device = session.device
        let timeline = try device.createSyncObject(.timeline(initialValue: 0))
        let binary = try device.createSyncObject()
        let (shared, sharedAddress) = try session.mappedBuffer(size: 4096)
        let otherSpace = try device.createAddressSpace()
        let otherQueue = try device.createQueue(in: otherSpace, family: SoftGPUIdentity.transferFamily)
        let copy = try device.createBuffer(size: 4096)
        try otherSpace.map(shared, gpuAddress: sharedAddress, size: 4096, flags: .read)
        try otherSpace.map(copy, gpuAddress: 0x4000_0000, size: 4096, flags: .write)

        // Queue 2 (another address space) copies what queue 1 filled, once point 2 is reached.
        var copyStream = CommandStream()
        copyStream.copy(from: sharedAddress, to: 0x4000_0000, size: 4096)
        copyStream.end()
        let copyCommands = try session.commandBuffer(copyStream)
        try otherQueue.submit(SubmitInfo(commands: .buffer(copyCommands, offset: 0, length: copyCommands.size),
                                         waits: [timeline.point(2)], signals: [timeline.point(3), binary.point()]))
        // Queue 1 waits for point 1 (from the CPU) and signals point 2.
        let fillCommands = try session.commandBuffer(fillStream(address: sharedAddress, size: 4096, pattern: 0x7171))
        try session.queue.submit(SubmitInfo(commands: .buffer(fillCommands, offset: 0, length: fillCommands.size),
                                            waits: [timeline.point(1)], signals: [timeline.point(2)]))
        try session.space.connection.flush()
        try otherSpace.connection.flush()
        expectStatus(.timedOut) { try timeline.wait(for: 2, timeoutNanoseconds: 20_000_000) }
        #expect(try timeline.value() == 0)
        try timeline.signal(to: 1)
        try SyncObject.waitAll([timeline.point(3), binary.point()], timeoutNanoseconds: 60_000_000_000)
        #expect(try timeline.value() == 3)
        #expect(try copy.u32s(1024).allSatisfy { $0 == 0x7171 })
    }

    @Test(arguments: TestBackend.virtioCases) func aSubmissionByGPUAddressWaitsForAndSignalsPoints(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let timeline = try session.device.createSyncObject(.timeline(initialValue: 10))
        let (target, targetAddress) = try session.mappedBuffer(size: 4096)
        let stream = fillStream(address: targetAddress, size: 4096, pattern: 0x6AD)
        let (commands, commandsAddress) = try session.mappedBuffer(size: 4096, flags: .read)
        try commands.mapCPU().copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        try session.queue.submit(SubmitInfo(commands: .gpuAddress(commandsAddress, length: UInt64(stream.bytes.count)),
                                            waits: [timeline.point(11)], signals: [timeline.point(12)]))
        expectStatus(.timedOut) { try timeline.wait(for: 12, timeoutNanoseconds: 20_000_000) }
        try timeline.signal(to: 11)
        try timeline.wait(for: 12, timeoutNanoseconds: 60_000_000_000)
        #expect(try target.u32s(1024).allSatisfy { $0 == 0x6AD })
    }

    @Test(.drmBackend(.skipped(.queues)), arguments: TestBackend.virtioCases) func waitAnyAndWaitAllMixPoints(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let timeline = try session.device.createSyncObject(.timeline(initialValue: 0))
        let binary = try session.device.createSyncObject()
        let points = [binary.point(), timeline.point(4)]
        expectStatus(.timedOut) { _ = try SyncObject.waitAny(points, timeoutNanoseconds: 1_000_000) }
        try timeline.signal(to: 4)
        #expect(try SyncObject.waitAny(points, timeoutNanoseconds: 60_000_000_000) == 1)
        expectStatus(.timedOut) { try SyncObject.waitAll(points, timeoutNanoseconds: 1_000_000) }
        try binary.signal()
        try SyncObject.waitAll(points, timeoutNanoseconds: 60_000_000_000)
        #expect(try SyncObject.waitAny(points, timeoutNanoseconds: 0) == 0)
        #expect(try binary.isSignaled(), "a CPU wait resets nothing")
    }

    @Test(arguments: TestBackend.virtioCases) func workThatFailsEndsWaitsOnItsTimelineAtOnce(_ backend: TestBackend) throws {
        let session = try devices.session(backend, own: SoftGPUConfiguration())
        let timeline = try session.device.createSyncObject(.timeline(initialValue: 0))
        let unrelated = try session.device.createSyncObject(.timeline(initialValue: 0))
        var stream = CommandStream()
        stream.copy(from: 0x7000_0000, to: 0x7100_0000, size: 4)
        stream.end()
        let commands = try session.commandBuffer(stream)
        try session.queue.submit(SubmitInfo(commands: .buffer(commands, offset: 0, length: commands.size), waits: [],
                                            signals: [timeline.point(1)]))
        expectStatus(.contextKilled) {
            _ = try SyncObject.waitAny([unrelated.point(1), timeline.point(1)], timeoutNanoseconds: 60_000_000_000)
        }
        expectStatus(.contextKilled) { try timeline.wait(for: 1, timeoutNanoseconds: 60_000_000_000) }
        // The timeline may record the failure before the address space's error arrives.
        #expect(awaitError(session.space)?.status == .contextKilled)
        #expect(try session.queue.checkStatus() == .contextKilled)
    }

    @Test(.drmBackend(.skipped(.syncobjKinds)), arguments: TestBackend.virtioCases) func exportAndImportDetectTheKind(_ backend: TestBackend) throws {
        let physical = try devices.physicalDevice(backend)
        let first = try physical.createDevice()
        let second = try physical.createDevice()
        defer { first.release(); second.release() }
        let timeline = try first.createSyncObject(.timeline(initialValue: 5))
        let binary = try first.createSyncObject()
        let importedTimeline = try second.importSyncObject(timeline.export())
        #expect(importedTimeline.kind == .timeline(initialValue: 5))
        try importedTimeline.signal(to: 8)
        #expect(try timeline.value() == 8, "the import shares the timeline's value")
        let importedBinary = try second.importSyncObject(binary.export())
        #expect(importedBinary.kind == .binary)
        try binary.signal()
        #expect(try importedBinary.isSignaled())
        // Named kinds are used as named.
        #expect(try second.importSyncObject(timeline.export(), kind: .timeline(initialValue: 0)).kind.isTimeline)
        #expect(try second.importSyncObject(binary.export(), kind: .binary).kind == .binary)
        expectStatus(.invalidArgs) { _ = try second.importSyncObject(timeline.export(), kind: .binary) }
        expectStatus(.invalidArgs) { _ = try second.importSyncObject(binary.export(), kind: .timeline(initialValue: 0)) }
        // What is neither cannot be told.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let writeEnd = OwnedFileDescriptor(taking: ends[1])
        expectStatus(.invalidArgs) { _ = try second.importSyncObject(OwnedFileDescriptor(taking: ends[0])) }
        _ = writeEnd
        #expect(second.home.error == nil)
    }

    @Test(arguments: TestBackend.virtioCases) func theDeviceClaimsWhatItsSyncObjectsDo(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let capabilities = try session.device.syncCapabilities
        #expect(capabilities == [.binary, .timeline, .cpuWait, .cpuSignal, .opaqueDescriptor])
        #expect(try session.device.syncCapabilities == capabilities)
        session.device.release()
        expectStatus(.badState) { _ = try session.device.syncCapabilities }
    }

    @Test(arguments: TestBackend.virtioCases) func aReleasedTimelineIsRejected(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let timeline = try session.device.createSyncObject(.timeline(initialValue: 0))
        let (_, address) = try session.mappedBuffer(size: 4096)
        try timeline.release()
        expectStatus(.invalidArgs) { try timeline.release() }
        expectStatus(.invalidArgs) { _ = try timeline.value() }
        expectStatus(.invalidArgs) { try timeline.signal(to: 1) }
        expectStatus(.invalidArgs) { try timeline.wait(for: 1, timeoutNanoseconds: 0) }
        expectStatus(.invalidArgs) { _ = try timeline.export() }
        let commands = try session.commandBuffer(fillStream(address: address, size: 4, pattern: 3))
        expectStatus(.invalidArgs) {
            try session.queue.submit(SubmitInfo(commands: .buffer(commands, offset: 0, length: commands.size), waits: [timeline.point(1)]))
        }
    }
}
