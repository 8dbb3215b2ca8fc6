import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// The asynchronous bind queue through the Fuchsia face, on every backend: binds wait for
/// their semaphores and timeline points, take effect in order, then signal; compute work
/// ordered after a bind's signal sees its mappings, work before it does not.
@Suite(.hangGuard, .drmBackend(.skipped(.gpuMappings))) struct BindQueueTests {
    let devices = TestDevices()
    let page = UInt64(SharedMemory.pageSize)

    /// A session with a bind context.
    func bindSession(_ backend: TestBackend) throws -> (GPUSession, Context) {
        let session = try devices.session(backend)
        return (session, try session.connection.createContext(queueFamily: SoftGPUIdentity.bindFamily))
    }

    /// A fill of `pages` pages at `address`, submitted on the compute context after `waits`.
    func fill(_ session: GPUSession, at address: UInt64, pages: UInt64 = 1, pattern: UInt32, waits: [Semaphore] = [],
              signals: [Semaphore] = []) throws {
        var stream = CommandStream()
        stream.fill(address: address, size: pages * page, pattern: pattern)
        stream.end()
        try session.submit(stream, waits: waits, signals: signals)
    }

    @Test(arguments: TestBackend.virtioCases) func aBindMapsOnlyOnceItsWaitSignalsAndComputeOrderedAfterItSeesTheMapping(_ backend: TestBackend) throws {
        let (session, binder) = try bindSession(backend)
        let buffer = try session.connection.createBuffer(size: 2 * page)
        let address = session.reserveAddress(2 * page)
        let gate = try session.connection.createSemaphore()
        let bound = try session.connection.createSemaphore()
        let filled = try session.connection.createSemaphore()
        try session.connection.bind(on: binder, [.map(bufferId: buffer.id, length: 2 * page, at: address, flags: [.read, .write])],
                                    waitSemaphores: [gate.id], signalSemaphores: [bound.id])
        try fill(session, at: address, pages: 2, pattern: 0xB1ADED, waits: [bound], signals: [filled])
        try session.connection.flush()
        #expect(!bound.isSignaled && !filled.isSignaled, "nothing runs before the bind's wait semaphore signals")
        #expect(try buffer.u32(at: 0) == 0)
        gate.signal()
        try session.waitFor(filled)
        #expect(try buffer.u32s(Int(2 * page) / 4).allSatisfy { $0 == 0xB1ADED })
        #expect(session.connection.error == nil)
    }

    @Test(arguments: TestBackend.virtioCases) func computeThatRunsBeforeTheBindFaults(_ backend: TestBackend) throws {
        let (session, binder) = try bindSession(backend)
        let buffer = try session.connection.createBuffer(size: page)
        let address = session.reserveAddress(page)
        let gate = try session.connection.createSemaphore()
        try session.connection.bind(on: binder, [.map(bufferId: buffer.id, length: page, at: address, flags: [.read, .write])],
                                    waitSemaphores: [gate.id])
        try fill(session, at: address, pattern: 1)
        #expect(awaitError(session.connection)?.status == .contextKilled, "the address is not mapped until the bind runs")
        #expect(try session.notifications().contains { if case .fault = $0 { true } else { false } })
        #expect(try buffer.u32(at: 0) == 0)
        #expect(try devices.session(backend).fillsCorrectly(pattern: 7), "the device goes on serving")
    }

    @Test(arguments: TestBackend.virtioCases) func anUnmapByBindKeepsTheOldMappingUntilItRuns(_ backend: TestBackend) throws {
        let (session, binder) = try bindSession(backend)
        let (buffer, address) = try session.mappedBuffer(size: page)
        let gate = try session.connection.createSemaphore()
        let unbound = try session.connection.createSemaphore()
        try session.connection.bind(on: binder, [.unmap(at: address, length: page)], waitSemaphores: [gate.id], signalSemaphores: [unbound.id])
        try session.fill(address: address, size: page, pattern: 0x01D)
        #expect(try buffer.u32(at: 0) == 0x01D, "work before the unmap runs sees the old mapping")
        gate.signal()
        try session.waitFor(unbound)
        try fill(session, at: address, pattern: 0x2)
        #expect(awaitError(session.connection)?.status == .contextKilled, "after the unmap the address faults")
        #expect(try buffer.u32(at: 0) == 0x01D)
    }

    @Test(arguments: TestBackend.virtioCases) func afterAnUnmapByBindTheBufferMayBeReleasedAndTheRangeMappedAgain(_ backend: TestBackend) throws {
        let (session, binder) = try bindSession(backend)
        let (old, address) = try session.mappedBuffer(size: page)
        let unbound = try session.connection.createSemaphore()
        try session.connection.bind(on: binder, [.unmap(at: address, length: page)], signalSemaphores: [unbound.id])
        try session.waitFor(unbound)
        try session.connection.release(old)
        let fresh = try session.connection.createBuffer(size: page)
        try session.connection.map(fresh, at: address, flags: [.read, .write])
        try session.fill(address: address, size: page, pattern: 0xF2E5)
        #expect(try fresh.u32(at: 0) == 0xF2E5)
        try session.connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func bindsOnOneContextTakeEffectInOrder(_ backend: TestBackend) throws {
        let (session, binder) = try bindSession(backend)
        let first = try session.connection.createBuffer(size: page)
        let second = try session.connection.createBuffer(size: page)
        let address = session.reserveAddress(page)
        let gate = try session.connection.createSemaphore()
        let done = try session.connection.createSemaphore()
        let filled = try session.connection.createSemaphore()
        let flags: MapFlags = [.read, .write]
        try session.connection.bind(on: binder, [.map(bufferId: first.id, length: page, at: address, flags: flags)], waitSemaphores: [gate.id])
        try session.connection.bind(on: binder, [.unmap(at: address, length: page)])
        try session.connection.bind(on: binder, [.map(bufferId: second.id, length: page, at: address, flags: flags)], signalSemaphores: [done.id])
        try fill(session, at: address, pattern: 0x5EC0, waits: [done], signals: [filled])
        gate.signal()
        try session.waitFor(filled)
        #expect(try second.u32(at: 0) == 0x5EC0, "the last bind's mapping is in place")
        #expect(try first.u32(at: 0) == 0)
    }

    @Test(arguments: TestBackend.virtioCases) func aBindWaitsForATimelinePointAndSignalsOne(_ backend: TestBackend) throws {
        let (session, binder) = try bindSession(backend)
        let buffer = try session.connection.createBuffer(size: page)
        let address = session.reserveAddress(page)
        let timeline = try session.connection.createTimelineSemaphore()
        let filled = try session.connection.createSemaphore()
        try session.connection.bind(on: binder, [.map(bufferId: buffer.id, length: page, at: address, flags: [.read, .write])],
                                    waitTimelinePoints: [timeline.point(1)], signalTimelinePoints: [timeline.point(2)])
        var stream = CommandStream()
        stream.fill(address: address, size: page, pattern: 0x7131)
        stream.end()
        let commands = try session.connection.createBuffer(size: UInt64(stream.bytes.count))
        try commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        try session.connection.execute(on: session.context, CommandDescriptor(
            resources: [BufferRange(bufferId: commands.id, offset: 0, length: UInt64(stream.bytes.count))],
            commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], signalSemaphores: [filled.id],
            waitTimelinePoints: [timeline.point(2)]))
        try session.connection.flush()
        #expect(timeline.value == 0)
        try timeline.signal(to: 1)
        try session.waitFor(filled)
        #expect(timeline.value == 2)
        #expect(try buffer.u32(at: 0) == 0x7131)
    }

    @Test(arguments: TestBackend.virtioCases) func aBindContextRefusesCommandsAndAComputeContextRefusesBinds(_ backend: TestBackend) throws {
        let (session, binder) = try bindSession(backend)
        var stream = CommandStream()
        stream.end()
        try session.submit(stream, on: binder)
        expectStatus(.invalidArgs) { try session.connection.flush() }

        let other = try devices.session(backend)
        let buffer = try other.connection.createBuffer(size: page)
        try other.connection.bind(on: other.context, [.map(bufferId: buffer.id, length: page, at: 0x100000, flags: .read)])
        expectStatus(.invalidArgs) { try other.connection.flush() }
    }

    @Test(arguments: TestBackend.virtioCases) func anUnmapOfABufferComputeStillUsesIsBadStateWhenTheBindRuns(_ backend: TestBackend) throws {
        let (session, binder) = try bindSession(backend)
        let (buffer, address) = try session.mappedBuffer(size: page)
        let gate = try session.connection.createSemaphore()
        var stream = CommandStream()
        stream.fill(address: address, size: page, pattern: 3)
        stream.end()
        // The compute work lists the buffer and waits, so it is in flight when the unmap runs.
        try session.submit(stream, waits: [gate], extraResources: [buffer])
        let timeline = try session.connection.createTimelineSemaphore()
        try session.connection.bind(on: binder, [.unmap(at: address, length: page)], signalTimelinePoints: [timeline.point(1)])
        #expect(awaitError(session.connection)?.status == .badState)
        // The refused bind never signals: a wait for its point ends with the error, not a timeout.
        expectStatus(.badState) { try timeline.wait(for: 1, timeoutNanoseconds: 10_000_000_000) }
        gate.signal()
    }

    @Test(arguments: TestBackend.virtioCases) func anEmptyOrOversizedBindIsRefusedWithTheConnectionUsable(_ backend: TestBackend) throws {
        let (session, binder) = try bindSession(backend)
        expectStatus(.invalidArgs) { try session.connection.bind(on: binder, []) }
        let many = (0...BindSubmission.maxOperations).map { BindOperation.unmap(at: UInt64($0) * page, length: page) }
        expectStatus(.invalidArgs) { try session.connection.bind(on: binder, many) }
        try session.connection.flush()
        #expect(try session.fillsCorrectly(pattern: 9))
    }

    @Test(arguments: TestBackend.virtioCases) func aMisalignedBindFailsTheConnectionAndOthersGoOn(_ backend: TestBackend) throws {
        let (session, binder) = try bindSession(backend)
        let buffer = try session.connection.createBuffer(size: page)
        try session.connection.bind(on: binder, [.map(bufferId: buffer.id, length: page, at: 0x100008, flags: .read)])
        expectStatus(.invalidArgs) { try session.connection.flush() }
        #expect(try devices.session(backend).fillsCorrectly(pattern: 4))
    }

    @Test(arguments: TestBackend.virtioCases) func closingWithBindsQueuedEndsCleanly(_ backend: TestBackend) throws {
        let device = try devices.open(backend)
        for _ in 0..<3 {
            let session = try GPUSession(device: device)
            let binder = try session.connection.createContext(queueFamily: SoftGPUIdentity.bindFamily)
            let buffer = try session.connection.createBuffer(size: page)
            let gate = try session.connection.createSemaphore()
            try session.connection.bind(on: binder, [.map(bufferId: buffer.id, length: page, at: 0x100000, flags: .read)], waitSemaphores: [gate.id])
            try session.connection.bind(on: binder, [.unmap(at: 0x100000, length: page)])
            try session.connection.flush()
            session.connection.release()
        }
        #expect(try GPUSession(device: device).fillsCorrectly(pattern: 5))
    }
}
