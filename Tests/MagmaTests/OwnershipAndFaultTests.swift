import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// In-flight ownership, GPU faults and isolation: a misbehaving connection is closed with a
/// typed status, and every other connection keeps working.
@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct OwnershipAndFaultTests {
    let devices = TestDevices()

    /// A session whose engine is held by a spinning program until `release()`.
    struct HeldEngine {
        let session: GPUSession
        let flag: Buffer
        let done: Semaphore

        init(_ session: GPUSession, resources: [Buffer]) throws {
            self.session = session
            let (flag, flagAddress) = try session.mappedBuffer(size: 4096)
            self.flag = flag
            done = try session.connection.createSemaphore()
            let spin = try session.loadProgram(Kernels.spinUntilFlag)
            var stream = CommandStream()
            stream.dispatch(programAddress: spin.address, programSize: spin.size, workgroupCount: 1, workgroupSize: 1, arguments: [flagAddress])
            try session.submit(stream, signals: [done], extraResources: resources)
        }

        func release() throws { try flag.contents.storeBytes(of: 1 as UInt32, as: UInt32.self) }
    }

    /// Checks that an unrelated connection on the same device still computes correctly.
    func expectBystanderWorks(_ device: Device) throws {
        let bystander = try GPUSession(device: device)
        let (target, address) = try bystander.mappedBuffer(size: 4096)
        var stream = CommandStream()
        stream.fill(address: address, size: 4096, pattern: 0x600D)
        try bystander.run(stream)
        #expect(try target.u32s(1024).allSatisfy { $0 == 0x600D })
    }

    @Test(arguments: TestBackend.virtioCases) func releasingAnInFlightBufferKillsOnlyThatConnection(_ backend: TestBackend) throws {
        let device = try devices.open(backend, own: SoftGPUConfiguration())
        let session = try GPUSession(device: device)
        let (victim, _) = try session.mappedBuffer(size: 4096)
        let held = try HeldEngine(session, resources: [victim])
        try session.connection.release(victim)
        expectStatus(.badState) { try session.connection.flush() }
        try held.release()
        try expectBystanderWorks(device)
    }

    @Test(arguments: TestBackend.virtioCases) func unmappingAnInFlightBufferKillsOnlyThatConnection(_ backend: TestBackend) throws {
        let device = try devices.open(backend, own: SoftGPUConfiguration())
        let session = try GPUSession(device: device)
        let (victim, address) = try session.mappedBuffer(size: 4096)
        let held = try HeldEngine(session, resources: [victim])
        try session.connection.unmap(victim, at: address)
        expectStatus(.badState) { try session.connection.flush() }
        try held.release()
        try expectBystanderWorks(device)
    }

    @Test(arguments: TestBackend.virtioCases) func buffersMayBeReleasedOnceTheirWorkCompletes(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (buffer, address) = try session.mappedBuffer(size: 4096)
        var stream = CommandStream()
        stream.fill(address: address, size: 4096, pattern: 3)
        try session.run(stream, extraResources: [buffer])
        try session.connection.unmap(buffer, at: address)
        try session.connection.release(buffer)
        try session.connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func readingUnmappedMemoryFaultsAndKillsTheContext(_ backend: TestBackend) throws {
        let device = try devices.open(backend, own: SoftGPUConfiguration())
        let session = try GPUSession(device: device)
        let (_, target) = try session.mappedBuffer(size: 4096)
        var stream = CommandStream()
        stream.copy(from: 0x7000_0000, to: target, size: 4)
        try session.submit(stream)
        #expect(awaitError(session.connection)?.status == .contextKilled)
        #expect(try session.notifications().contains(.fault(sequence: 1, address: 0x7000_0000, access: GpuAccess.read.rawValue,
                                                             reason: GpuFault.Reason.notMapped.rawValue)))
        expectStatus(.connectionLost) { try Poll.wait([.notifications(session.connection)], timeoutNanoseconds: 0) }
        try expectBystanderWorks(device)
    }

    @Test(arguments: TestBackend.virtioCases) func writingReadOnlyMemoryFaults(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (readOnly, address) = try session.mappedBuffer(size: 4096, flags: .read)
        var stream = CommandStream()
        stream.fill(address: address, size: 4, pattern: 1)
        try session.submit(stream)
        #expect(awaitError(session.connection)?.status == .contextKilled)
        #expect(try readOnly.u32(at: 0) == 0)
        #expect(try session.notifications().contains(.fault(sequence: 1, address: address, access: GpuAccess.write.rawValue,
                                                             reason: GpuFault.Reason.permission.rawValue)))
    }

    @Test(arguments: TestBackend.virtioCases) func programsNeedExecutePermission(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let bytes = try Assembler.assembleBytes(Kernels.vectorAddF32)
        let (_, address) = try session.upload(bytes, flags: [.read, .write])
        var stream = CommandStream()
        stream.dispatch(programAddress: address, programSize: UInt32(bytes.count), workgroupCount: 1, workgroupSize: 1, arguments: [0, 0, 0, 0])
        try session.submit(stream)
        #expect(awaitError(session.connection)?.status == .contextKilled)
    }

    @Test(arguments: TestBackend.virtioCases) func malformedCommandsKillTheContext(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        try session.connection.executeInline(on: session.context, [InlineCommand(data: [0xFF, 0, 0, 0, 8, 0, 0, 0])])
        #expect(awaitError(session.connection)?.status == .contextKilled)
        #expect(try session.notifications() == [.illegalCommand(sequence: 1)])
    }

    /// A request of inline commands is one piece of work: the commands before a malformed one
    /// have run, but the request's semaphores are not signaled, and the fault names its one
    /// sequence number.
    @Test(arguments: TestBackend.allCases) func aMalformedInlineCommandFailsItsWholeRequest(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, address) = try session.mappedBuffer(size: 4096)
        let ran = try session.connection.createSemaphore()
        var fill = CommandStream()
        fill.fill(address: address, size: 4, pattern: 9)
        try session.connection.executeInline(on: session.context, [InlineCommand(data: fill.bytes, semaphores: [ran.id]),
                                                                  InlineCommand(data: [0xFF, 0, 0, 0, 8, 0, 0, 0])])
        #expect(awaitError(session.connection)?.status == .contextKilled)
        #expect(try session.notifications() == [.illegalCommand(sequence: 1)])
        #expect(try target.u32s(1) == [9], "the command before the malformed one ran")
        #expect(!ran.isSignaled, "failed work signals nothing")
    }

    @Test(arguments: TestBackend.virtioCases) func aGPUProgramCannotReadAnotherConnectionsMemory(_ backend: TestBackend) throws {
        let device = try devices.open(backend, own: SoftGPUConfiguration())
        let owner = try GPUSession(device: device)
        let thief = try GPUSession(device: device)
        let (secret, secretAddress) = try owner.mappedBuffer(size: 4096)
        for index in 0..<1024 { try secret.contents.storeBytes(of: 0x5EC2_E700 | UInt32(index), toByteOffset: index * 4, as: UInt32.self) }
        // The thief maps its own buffers elsewhere and aims a load at the owner's address,
        // which means nothing in the thief's address space.
        _ = thief.reserveAddress(1 << 20)
        let (loot, lootAddress) = try thief.mappedBuffer(size: 4096)
        #expect(lootAddress != secretAddress)
        let program = try thief.loadProgram("""
            lane r0
            shli r1, r0, 2
            ld r2, a0, r1, 0
            st r2, a1, r1, 0
            end
            """)
        var stream = CommandStream()
        stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: 1, workgroupSize: 32,
                        arguments: [secretAddress, lootAddress])
        try thief.submit(stream)
        #expect(awaitError(thief.connection)?.status == .contextKilled)
        #expect(try loot.u32s(1024).allSatisfy { $0 == 0 }, "nothing of the secret reached the thief")
        #expect(owner.connection.error == nil)
        #expect(try secret.u32(at: 0) == 0x5EC2_E700)
        try expectBystanderWorks(device)
    }

    @Test(arguments: TestBackend.virtioCases) func theWatchdogStopsAnInfiniteLoopWhileOthersKeepRunning(_ backend: TestBackend) throws {
        let device = try devices.open(backend, own: SoftGPUConfiguration(watchdogNanoseconds: 200_000_000))
        let runaway = try GPUSession(device: device)
        let program = try runaway.loadProgram(Kernels.infiniteLoop)
        var stream = CommandStream()
        stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: 4, workgroupSize: 64, arguments: [])
        try runaway.submit(stream)
        try expectBystanderWorks(device)
        #expect(awaitError(runaway.connection)?.status == .contextKilled)
        #expect(try runaway.notifications() == [.hang(sequence: 1, limitNanoseconds: 200_000_000)])
    }
}

/// Every id, offset and semaphore of an execute request is validated by the system.
@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct ExecuteValidationTests {
    let devices = TestDevices()

    func expectExecuteRejected(on backend: TestBackend, _ makeDescriptor: (GPUSession, Buffer) throws -> CommandDescriptor) throws {
        let session = try devices.session(backend)
        var stream = CommandStream()
        stream.end()
        let commands = try session.connection.createBuffer(size: 4096)
        try commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        try session.connection.execute(on: session.context, try makeDescriptor(session, commands))
        expectStatus(.invalidArgs) { try session.connection.flush() }
    }

    static func resource(_ buffer: Buffer, offset: UInt64 = 0, length: UInt64? = nil) -> BufferRange {
        BufferRange(bufferId: buffer.id, offset: offset, length: length ?? buffer.size)
    }

    @Test(arguments: TestBackend.virtioCases) func resourceIndexOutOfRange(_ backend: TestBackend) throws {
        try expectExecuteRejected(on: backend) { _, commands in
            CommandDescriptor(resources: [Self.resource(commands)], commandBuffers: [CommandBufferEntry(resourceIndex: 1, startOffset: 0)])
        }
    }

    @Test(arguments: TestBackend.virtioCases) func startOffsetOutsideTheResource(_ backend: TestBackend) throws {
        try expectExecuteRejected(on: backend) { _, commands in
            CommandDescriptor(resources: [Self.resource(commands)], commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 4096)])
        }
    }

    @Test(arguments: TestBackend.virtioCases) func resourceRangeBeyondItsBuffer(_ backend: TestBackend) throws {
        try expectExecuteRejected(on: backend) { _, commands in
            CommandDescriptor(resources: [Self.resource(commands, offset: 8, length: 4096)], commandBuffers: [])
        }
        try expectExecuteRejected(on: backend) { _, commands in
            CommandDescriptor(resources: [Self.resource(commands, offset: .max, length: 2)], commandBuffers: [])
        }
    }

    @Test(arguments: TestBackend.virtioCases) func unknownResourceBuffer(_ backend: TestBackend) throws {
        try expectExecuteRejected(on: backend) { _, _ in
            CommandDescriptor(resources: [BufferRange(bufferId: 0xDEAD_0000, offset: 0, length: 8)], commandBuffers: [])
        }
    }

    @Test(arguments: TestBackend.virtioCases) func unknownWaitOrSignalSemaphore(_ backend: TestBackend) throws {
        try expectExecuteRejected(on: backend) { _, commands in
            CommandDescriptor(resources: [Self.resource(commands)], commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)],
                              waitSemaphores: [0xBAD])
        }
        try expectExecuteRejected(on: backend) { _, commands in
            CommandDescriptor(resources: [Self.resource(commands)], commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)],
                              signalSemaphores: [0xBAD])
        }
    }

    @Test(arguments: TestBackend.virtioCases) func releasedSemaphoreIsUnknown(_ backend: TestBackend) throws {
        try expectExecuteRejected(on: backend) { session, commands in
            let semaphore = try session.connection.createSemaphore()
            try session.connection.release(semaphore)
            return CommandDescriptor(resources: [Self.resource(commands)], commandBuffers: [], signalSemaphores: [semaphore.id])
        }
    }

    @Test(arguments: TestBackend.virtioCases) func emptyInlineCommand(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        try session.connection.executeInline(on: session.context, [InlineCommand(data: [])])
        expectStatus(.invalidArgs) { try session.connection.flush() }
    }

    @Test(arguments: TestBackend.virtioCases) func releasedContext(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let context = try session.connection.createContext()
        try session.connection.release(context)
        expectStatus(.invalidArgs) { try session.connection.execute(on: context, CommandDescriptor(resources: [], commandBuffers: [])) }
        try session.connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func semaphoreOnlySubmissionSignalsAfterItsWaits(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let gate = try session.connection.createSemaphore()
        let done = try session.connection.createSemaphore()
        try session.connection.execute(on: session.context, CommandDescriptor(resources: [], commandBuffers: [],
                                                                               waitSemaphores: [gate.id], signalSemaphores: [done.id]))
        #expect(!done.isSignaled)
        gate.signal()
        try session.waitFor(done)
    }
}
