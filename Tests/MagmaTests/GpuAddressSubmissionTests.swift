import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// Submission by GPU address + length: the device reads the command stream through its MMU,
/// on every backend.
@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct GpuAddressSubmissionTests {
    let devices = TestDevices()

    @Test(arguments: TestBackend.virtioCases) func aStreamAtAGPUAddressRunsAndSignals(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, targetAddress) = try session.mappedBuffer(size: 8192)
        var stream = CommandStream()
        stream.fill(address: targetAddress, size: 8192, pattern: 0xADD2E55)
        stream.end()
        stream.fill(address: targetAddress, size: 4, pattern: 0xBAD)  // after end: never runs
        // The stream crosses a page boundary: it starts 24 bytes before the end of a page.
        let offset = SharedMemory.pageSize - 24
        let (commands, commandsAddress) = try session.mappedBuffer(size: 2 * UInt64(SharedMemory.pageSize), flags: .read)
        try commands.contents.advanced(by: offset).copyMemory(from: stream.bytes, byteCount: stream.bytes.count)
        let gate = try session.connection.createSemaphore()
        let done = try session.connection.createSemaphore()
        try session.connection.execute(on: session.context, GpuAddressCommand(
            gpuAddress: commandsAddress + UInt64(offset), length: UInt64(stream.bytes.count), waitSemaphores: [gate.id], signalSemaphores: [done.id]))
        try session.connection.flush()
        #expect(try target.u32(at: 0) == 0, "nothing runs before the wait semaphore signals")
        gate.signal()
        try session.waitFor(done)
        #expect(try target.u32s(2048).allSatisfy { $0 == 0xADD2E55 })
    }

    @Test(arguments: TestBackend.virtioCases) func aStreamAtAGPUAddressWaitsForAndSignalsTimelinePoints(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, targetAddress) = try session.mappedBuffer(size: 4096)
        let stream = fillStream(address: targetAddress, size: 4096, pattern: 0x71E)
        let (commands, commandsAddress) = try session.mappedBuffer(size: 4096, flags: .read)
        try commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        let gate = try session.connection.createTimelineSemaphore(initialValue: 1)
        let done = try session.connection.createTimelineSemaphore()
        try session.connection.execute(on: session.context, GpuAddressCommand(
            gpuAddress: commandsAddress, length: UInt64(stream.bytes.count),
            waitTimelinePoints: [gate.point(3)], signalTimelinePoints: [done.point(5)]))
        try session.connection.flush()
        try gate.signal(to: 2)
        #expect(throws: MagmaError.self) { try done.wait(for: 5, timeoutNanoseconds: 20_000_000) }
        #expect(try target.u32(at: 0) == 0, "nothing runs before its wait point is reached")
        try gate.signal(to: 3)
        try done.wait(for: 5, timeoutNanoseconds: 60_000_000_000)
        #expect(done.value == 5)
        #expect(try target.u32s(1024).allSatisfy { $0 == 0x71E })
    }

    @Test(arguments: TestBackend.virtioCases) func aStreamAtAGPUAddressThatFaultsFailsItsSignalTimelines(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let done = try session.connection.createTimelineSemaphore()
        // Nothing is mapped at the stream's address.
        try session.connection.execute(on: session.context, GpuAddressCommand(
            gpuAddress: 0x4000_0000, length: 8, signalTimelinePoints: [done.point(1)]))
        expectStatus(.contextKilled) { try done.wait(for: 1, timeoutNanoseconds: 60_000_000_000) }
        #expect(done.value == 0)
    }

    @Test(arguments: TestBackend.virtioCases) func anUnmappedRangeFaultsAndTheDeviceGoesOn(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (commands, commandsAddress) = try session.mappedBuffer(size: 4096, flags: .read)
        var stream = CommandStream()
        stream.fill(address: commandsAddress, size: 4, pattern: 1)
        try commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        // The stream's second page is not mapped.
        try session.connection.execute(on: session.context, GpuAddressCommand(gpuAddress: commandsAddress, length: 4096 + 8))
        let error = try #require(awaitError(session.connection))
        #expect(error.status == .contextKilled)
        #expect(try session.notifications().contains { if case .fault = $0 { true } else { false } })
        #expect(try devices.session(backend).fillsCorrectly(pattern: 3))
    }

    @Test(arguments: TestBackend.virtioCases) func aStreamInWriteOnlyMemoryFaults(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (commands, commandsAddress) = try session.mappedBuffer(size: 4096, flags: .write)
        var stream = CommandStream()
        stream.end()
        try commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        try session.connection.execute(on: session.context, GpuAddressCommand(gpuAddress: commandsAddress, length: UInt64(stream.bytes.count)))
        #expect(awaitError(session.connection)?.status == .contextKilled)
    }

    @Test(arguments: TestBackend.virtioCases) func aZeroLengthOrWrappingStreamIsInvalidArgs(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        expectStatus(.invalidArgs) { try session.connection.execute(on: session.context, GpuAddressCommand(gpuAddress: 0x1000, length: 0)) }
        #expect(session.connection.error == nil)
        try session.connection.execute(on: session.context, GpuAddressCommand(gpuAddress: 1 << 48 - 8, length: 16))
        expectStatus(.invalidArgs) { try session.connection.flush() }
    }
}
