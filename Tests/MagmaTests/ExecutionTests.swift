import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct ExecutionTests {
    let devices = TestDevices()

    @Test(arguments: TestBackend.virtioCases) func fillCopyAndTimestamp(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (a, aAddress) = try session.mappedBuffer(size: 3 * 4096)
        let (b, bAddress) = try session.mappedBuffer(size: 3 * 4096)
        let (clock, clockAddress) = try session.mappedBuffer(size: 4096)
        let before = Clock.monotonicNanoseconds()
        var stream = CommandStream()
        stream.fill(address: aAddress + 4, size: 3 * 4096 - 8, pattern: 0xA5A5_0001)
        stream.copy(from: aAddress, to: bAddress, size: 3 * 4096)
        stream.timestamp(address: clockAddress + 8)
        stream.end()
        stream.fill(address: aAddress, size: 4, pattern: 0xBAD)  // after end: never runs
        try session.run(stream)
        #expect(try a.u32(at: 0) == 0)
        #expect(try a.u32(at: 4) == 0xA5A5_0001)
        #expect(try a.u32(at: 3 * 4096 - 8) == 0xA5A5_0001)
        #expect(try a.u32(at: 3 * 4096 - 4) == 0)
        #expect(try Array(a.bytes) == Array(b.bytes))
        let stamp = try clock.contents.load(fromByteOffset: 8, as: UInt64.self)
        if backend == .virtgpu {
            // The GPU's clock is the host's monotonic clock; a VM's guest has a clock of its own.
            #expect(stamp != 0)
        } else {
            #expect(stamp >= before && stamp <= Clock.monotonicNanoseconds())
        }
    }

    @Test(arguments: TestBackend.virtioCases) func vectorAddOfAMillionElements(_ backend: TestBackend) throws {
        let session = try devices.session(backend, own: .heavyWork)
        let count = 1 << 20
        let (stream, z) = try session.vectorAdd(count: count, x: { Float($0) * 0.5 }, y: { _ in 3 })
        try session.run(stream)
        let zs = try z.contents.bindMemory(to: Float.self, capacity: count)
        var mismatches = 0
        for i in 0..<count where zs[i] != Float(i) * 0.5 + 3 { mismatches += 1 }
        #expect(mismatches == 0)
    }

    @Test(arguments: TestBackend.virtioCases) func reductionSumsEveryElementExactlyOnce(_ backend: TestBackend) throws {
        let session = try devices.session(backend, own: .heavyWork)
        let count = 100_003  // not a multiple of the wave or workgroup size
        let (input, inputAddress) = try session.mappedBuffer(size: UInt64(count * 4), flags: .read)
        let (total, totalAddress) = try session.mappedBuffer(size: 4096)
        var expected: UInt32 = 0
        for i in 0..<count {
            let value = UInt32(i % 1000 + 1)
            try input.contents.storeBytes(of: value, toByteOffset: i * 4, as: UInt32.self)
            expected &+= value
        }
        let program = try session.loadProgram(Kernels.sumU32)
        var stream = CommandStream()
        stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: UInt32((count + 127) / 128),
                        workgroupSize: 128, arguments: [inputAddress, totalAddress, UInt64(count)])
        try session.run(stream)
        #expect(try total.u32(at: 0) == expected)
    }

    @Test(arguments: TestBackend.virtioCases) func workWaitsForItsSemaphoresAndResetsThem(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, address) = try session.mappedBuffer(size: 4096)
        let gate = try session.connection.createSemaphore()
        let done = try session.connection.createSemaphore()
        var stream = CommandStream()
        stream.fill(address: address, size: 4096, pattern: 42)
        try session.submit(stream, waits: [gate], signals: [done])
        #expect(throws: MagmaError(.timedOut)) { try Poll.wait([.semaphore(done)], timeoutNanoseconds: 50_000_000) }
        #expect(try target.u32(at: 0) == 0, "nothing ran before the wait semaphore signaled")
        gate.signal()
        try session.waitFor(done)
        #expect(try target.u32(at: 0) == 42)
        #expect(!gate.isSignaled, "a wait resets its semaphore once all have signaled")
        #expect(done.isSignaled, "polling does not reset")
    }

    @Test(arguments: TestBackend.virtioCases) func workWhoseSemaphoresSignaledFirstRunsAndResetsThem(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, address) = try session.mappedBuffer(size: 4096)
        let gate = try session.connection.createSemaphore()
        let other = try session.connection.createSemaphore()
        let done = try session.connection.createSemaphore()
        for round in 1...3 {
            gate.signal()
            other.signal()
            var stream = CommandStream()
            stream.fill(address: address, size: 4096, pattern: UInt32(round))
            // The same semaphore twice: consumed once, as when it waits.
            try session.submit(stream, waits: [gate, other, gate], signals: [done])
            try session.waitFor(done)
            done.reset()
            #expect(try target.u32(at: 4092) == UInt32(round))
            #expect(!gate.isSignaled && !other.isSignaled, "round \(round): the waits were consumed")
        }
        // Consumed, the next submission waiting on them waits again.
        var last = CommandStream()
        last.fill(address: address, size: 4096, pattern: 9)
        try session.submit(last, waits: [gate], signals: [done])
        #expect(throws: MagmaError(.timedOut)) { try Poll.wait([.semaphore(done)], timeoutNanoseconds: 50_000_000) }
        gate.signal()
        try session.waitFor(done)
        #expect(try target.u32(at: 0) == 9)
    }

    @Test(arguments: TestBackend.virtioCases) func oneContextRunsInSubmissionOrderBehindAWait(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, address) = try session.mappedBuffer(size: 4096)
        let gate = try session.connection.createSemaphore()
        let done = try session.connection.createSemaphore()
        var first = CommandStream()
        first.fill(address: address, size: 4, pattern: 1)
        var second = CommandStream()
        second.fill(address: address, size: 4, pattern: 2)
        try session.submit(first, waits: [gate])
        try session.submit(second, signals: [done])  // no waits, but queued behind the first
        #expect(throws: MagmaError(.timedOut)) { try Poll.wait([.semaphore(done)], timeoutNanoseconds: 50_000_000) }
        gate.signal()
        try session.waitFor(done)
        #expect(try target.u32(at: 0) == 2)
    }

    @Test(arguments: TestBackend.virtioCases) func otherContextsAreNotBlockedByAWait(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let other = try session.connection.createContext()
        let (target, address) = try session.mappedBuffer(size: 4096)
        let gate = try session.connection.createSemaphore()
        let done = try session.connection.createSemaphore()
        var blocked = CommandStream()
        blocked.fill(address: address, size: 4, pattern: 1)
        var free = CommandStream()
        free.fill(address: address + 4, size: 4, pattern: 2)
        try session.submit(blocked, waits: [gate])
        try session.submit(free, signals: [done], on: other)
        try session.waitFor(done)
        #expect(try target.u32(at: 4) == 2)
        #expect(try target.u32(at: 0) == 0)
        gate.signal()
    }

    @Test(arguments: TestBackend.allCases) func oneShotImportsAreNotResetByWaits(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (_, address) = try session.mappedBuffer(size: 4096)
        let original = try session.connection.createSemaphore()
        let oneShot = try session.connection.importSemaphore(try original.export(), flags: .oneShot)
        let done = try session.connection.createSemaphore()
        original.signal()
        var stream = CommandStream()
        stream.fill(address: address, size: 4, pattern: 5)
        try session.submit(stream, waits: [oneShot], signals: [done])
        try session.waitFor(done)
        #expect(original.isSignaled, "a one-shot wait leaves the shared semaphore signaled")
    }

    @Test(arguments: TestBackend.virtioCases) func inlineCommandsRunAndSignalTheirSemaphores(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, address) = try session.mappedBuffer(size: 64 * 1024)
        let done = try session.connection.createSemaphore()
        // 200 fills of 32 bytes each: more than one 2 KiB message's worth.
        var commands: [InlineCommand] = []
        for index in 0..<200 {
            var stream = CommandStream()
            stream.fill(address: address + UInt64(index * 4), size: 4, pattern: UInt32(index + 1))
            commands.append(InlineCommand(data: stream.bytes, semaphores: index == 199 ? [done.id] : []))
        }
        #expect(InlineCommandBatching.batches(commands).count > 1)
        try session.connection.executeInline(on: session.context, commands)
        try session.waitFor(done)
        #expect(try target.u32s(200) == (1...200).map(UInt32.init))
    }

    /// Each request of inline commands (a message: the library splits a call at 2 KiB) is one
    /// piece of work: one sequence number and one completion notification, in order.
    @Test(arguments: TestBackend.virtioCases) func eachInlineRequestCompletesOnce(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (_, address) = try session.mappedBuffer(size: 4096)
        var stream = CommandStream()
        stream.fill(address: address, size: 4, pattern: 7)
        let commands = Array(repeating: InlineCommand(data: stream.bytes), count: 200)
        let requests = InlineCommandBatching.batches(commands).count
        #expect(requests > 1)
        try session.connection.executeInline(on: session.context, commands)
        try session.fill(address: address, size: 4, pattern: 8)   // work number requests + 1
        // Read up to the fill's completion, then whatever else comes within a quiet 300 ms:
        // work numbered per command would have sent 200 completions before the fill's.
        var sequences: [UInt64] = []
        let deadline = Clock.monotonicNanoseconds() + 10_000_000_000
        var quietSince = Clock.monotonicNanoseconds()
        while Clock.monotonicNanoseconds() < deadline {
            let reachedFill = sequences.contains(UInt64(requests + 1))
            if reachedFill, Clock.monotonicNanoseconds() - quietSince > 300_000_000 { break }
            guard let message = try session.connection.readNotification() else {
                _ = try? Poll.wait([.notifications(session.connection)], timeoutNanoseconds: 100_000_000)
                continue
            }
            quietSince = Clock.monotonicNanoseconds()
            if case .completed(let sequence, _, _)? = SoftGPUNotification(bytes: message) { sequences.append(sequence) }
        }
        #expect(sequences == Array(1...UInt64(requests + 1)))
    }

    @Test(arguments: TestBackend.virtioCases) func multipleCommandBuffersRunInOrder(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, address) = try session.mappedBuffer(size: 4096)
        var first = CommandStream()
        first.fill(address: address, size: 8, pattern: 1)
        first.end()
        var second = CommandStream()
        second.fill(address: address + 4, size: 4, pattern: 2)
        second.end()
        let commands = try session.connection.createBuffer(size: 8192)
        try commands.bytes.copyMemory(from: first.bytes.withUnsafeBytes { $0 })
        (try commands.contents + 4096).copyMemory(from: second.bytes, byteCount: second.bytes.count)
        let done = try session.connection.createSemaphore()
        try session.connection.execute(on: session.context, CommandDescriptor(
            resources: [BufferRange(bufferId: commands.id, offset: 0, length: 8192)],
            commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0), CommandBufferEntry(resourceIndex: 0, startOffset: 4096)],
            signalSemaphores: [done.id]))
        try session.waitFor(done)
        #expect(try target.u32s(2) == [1, 2])
    }

    /// Embedded only: a priority above medium needs a trusted client, and socket clients never are.
    @Test func higherPriorityContextsRunFirst() throws {
        let device = try Device.open(.inProcess(SoftGPUDriver()))
        let session = try GPUSession(device: device, priority: .low)
        let urgent = try session.connection.createContext(priority: .high)
        let holder = try session.connection.createContext(priority: .realtime)
        let (log, logAddress) = try session.mappedBuffer(size: 4096)
        let (flag, flagAddress) = try session.mappedBuffer(size: 4096)
        let lowDone = try session.connection.createSemaphore()
        let highDone = try session.connection.createSemaphore()
        // Occupy the engine with a program that spins until the CPU raises a flag.
        let spin = try session.loadProgram(Kernels.spinUntilFlag)
        var blocker = CommandStream()
        blocker.dispatch(programAddress: spin.address, programSize: spin.size, workgroupCount: 1, workgroupSize: 1, arguments: [flagAddress])
        try session.submit(blocker, on: holder)
        // Both queue behind it: low first, then high.
        var low = CommandStream()
        low.copy(from: logAddress, to: logAddress + 8, size: 4)   // records what ran before it
        low.fill(address: logAddress, size: 4, pattern: 1)
        var high = CommandStream()
        high.copy(from: logAddress, to: logAddress + 12, size: 4)
        high.fill(address: logAddress, size: 4, pattern: 2)
        try session.submit(low, signals: [lowDone], on: session.context)
        try session.submit(high, signals: [highDone], on: urgent)
        try flag.contents.storeBytes(of: 1 as UInt32, as: UInt32.self)
        try session.waitFor(lowDone)
        try session.waitFor(highDone)
        // Low saw high's mark: high ran first.
        #expect(try log.u32(at: 8) == 2)
        #expect(try log.u32(at: 12) == 0)
    }
}
