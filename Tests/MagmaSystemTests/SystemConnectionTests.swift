import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaTestSupport
import Testing

/// MagmaSystem's rules, checked through a recording driver.
@Suite(.hangGuard) struct SystemConnectionTests {
    let driver = RecordingDriver()
    let sink = RecordingSink()
    let device: SystemDevice
    let connection: SystemConnection

    init() throws {
        device = try SystemDevice(driver: driver)
        connection = try device.openConnection(trust: .untrusted, sink: sink)
    }

    func memory() throws -> SharedMemory { try SharedMemory.create(size: 4096) }

    /// The connection failed with `status`, reported once to the sink.
    func expectClosed(_ status: MagmaStatus, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(connection.flush()?.status == status, sourceLocation: sourceLocation)
        #expect(sink.epitaphs.withLock { $0.map(\.status) } == [status], sourceLocation: sourceLocation)
    }

    @Test func queriesGoToTheDriverExceptFlowControl() throws {
        guard case .value(let vendor) = try device.query(.vendorId) else { Issue.record("not a value"); return }
        #expect(vendor == 0xFA4E)
        guard case .value(let inflight) = try device.query(.maximumInflightParams) else { Issue.record("not a value"); return }
        #expect(inflight == FlowControlLimits.standard.queryValue)
    }

    @Test func performanceCountersNeedAccessAndADeviceThatHasThem() throws {
        connection.enablePerformanceCounters([1])
        expectClosed(.accessDenied)
        let trusted = try device.openConnection(trust: .trusted, sink: RecordingSink())
        #expect(!trusted.isPerformanceCounterAccessAllowed, "trust does not grant counters: only the token does")
        trusted.enablePerformanceCounterAccess(token: device.performanceCounterToken.identity)
        trusted.enablePerformanceCounters([1])
        #expect(trusted.flush()?.status == .unimplemented, "the recording driver has no counters")
        let granted = try device.openConnection(trust: .untrusted, sink: RecordingSink())
        granted.enablePerformanceCounterAccess(token: try SharedMemory.create(size: 1).identity)
        #expect(!granted.isPerformanceCounterAccessAllowed, "a stranger's token is ignored")
        granted.enablePerformanceCounterAccess(token: device.performanceCounterToken.identity)
        #expect(granted.isPerformanceCounterAccessAllowed)
    }

    @Test func errorsAreStickyAndTheEpitaphIsSentOnce() throws {
        connection.releaseBuffer(id: 99)
        connection.releaseBuffer(id: 100)
        connection.createContext(id: 1, priority: .medium)
        expectClosed(.invalidArgs)
        #expect(driver.log.withLock { $0.contexts } == 0, "requests after the error are ignored")
        #expect(driver.log.withLock { $0.released } == 1)
    }

    @Test func sameMemoryUnderOneIdIsCountedAndReleasedTwice() throws {
        let shared = try memory()
        connection.importBuffer(id: 7, memory: shared)
        connection.importBuffer(id: 7, memory: try SharedMemory.importing(try #require(shared.descriptor).duplicate()))
        connection.releaseBuffer(id: 7)
        connection.mapBuffer(gpuAddress: 0x1000, bufferId: 7, offset: 0, length: 4096, flags: .read)
        connection.releaseBuffer(id: 7)
        #expect(connection.flush() == nil)
        #expect(driver.log.withLock { $0.unmaps } == [0x1000], "the last release unmaps")
        connection.releaseBuffer(id: 7)
        expectClosed(.invalidArgs)
    }

    @Test func otherMemoryUnderAUsedIdIsRejected() throws {
        connection.importBuffer(id: 7, memory: try memory())
        connection.importBuffer(id: 7, memory: try memory())
        expectClosed(.invalidArgs)
    }

    @Test func idZeroIsNeverValid() throws {
        connection.importBuffer(id: 0, memory: try memory())
        expectClosed(.invalidArgs)
    }

    @Test func semaphoreIdsAreUniqueAndFlagsKnown() throws {
        connection.importSemaphore(id: 3, event: try EventSemaphore(), flags: [])
        #expect(connection.flush() == nil)
        connection.importSemaphore(id: 3, event: try EventSemaphore(), flags: .oneShot)
        expectClosed(.invalidArgs)
    }

    @Test func unknownSemaphoreFlagsAreRejected() throws {
        connection.importSemaphore(id: 3, event: try EventSemaphore(), flags: ImportSemaphoreFlags(rawValue: 6))
        expectClosed(.invalidArgs)
    }

    @Test func contextIdsAreUniqueAndDestroyedOnce() throws {
        connection.createContext(id: 1, priority: .medium)
        connection.destroyContext(id: 1)
        #expect(connection.flush() == nil)
        connection.destroyContext(id: 1)
        expectClosed(.invalidArgs)
    }

    @Test func duplicateContextId() throws {
        connection.createContext(id: 1, priority: .medium)
        connection.createContext(id: 1, priority: .low)
        expectClosed(.invalidArgs)
    }

    @Test func untrustedClientsCannotRaisePriority() throws {
        connection.createContext(id: 1, priority: .high)
        expectClosed(.accessDenied)
    }

    @Test func commitAndDecommitAreClientSideOnly() throws {
        connection.importBuffer(id: 7, memory: try memory())
        connection.bufferRangeOp(bufferId: 7, op: .commit, offset: 0, length: 4096)
        expectClosed(.invalidArgs)
    }

    @Test func inFlightTrackingFollowsCompletion() throws {
        connection.importBuffer(id: 7, memory: try memory())
        connection.createContext(id: 1, priority: .medium)
        connection.mapBuffer(gpuAddress: 0x1000, bufferId: 7, offset: 0, length: 4096, flags: .read)
        connection.executeCommand(contextId: 1, descriptor: CommandDescriptor(
            resources: [BufferRange(bufferId: 7, offset: 0, length: 4096)], commandBuffers: []))
        #expect(driver.log.withLock { $0.submitted.count } == 1)
        driver.completeNext()
        connection.unmapBuffer(gpuAddress: 0x1000, bufferId: 7)
        connection.releaseBuffer(id: 7)
        #expect(connection.flush() == nil)
    }

    @Test func depopulatingInFlightMemoryIsBadState() throws {
        connection.importBuffer(id: 7, memory: try memory())
        connection.createContext(id: 1, priority: .medium)
        connection.executeCommand(contextId: 1, descriptor: CommandDescriptor(
            resources: [BufferRange(bufferId: 7, offset: 0, length: 4096)], commandBuffers: []))
        connection.bufferRangeOp(bufferId: 7, op: .depopulateTables, offset: 0, length: 4096)
        expectClosed(.badState)
        driver.completeNext()
    }

    @Test func theDriverSignalsSemaphoresNotMagmaSystem() throws {
        let event = try EventSemaphore()
        connection.importSemaphore(id: 5, event: event, flags: [])
        connection.createContext(id: 1, priority: .medium)
        connection.executeCommand(contextId: 1, descriptor: CommandDescriptor(resources: [], commandBuffers: [], signalSemaphores: [5]))
        let semaphore = try #require(driver.log.withLock { $0.semaphores.first })
        #expect(driver.log.withLock { $0.submitted.first?.signalSemaphores.first } === semaphore, "the driver's own semaphore")
        driver.completeNext(.ok)
        #expect(!event.isSignaled, "completing work signals nothing: signaling is the driver's")
        #expect(connection.flush() == nil)
    }

    @Test func inlineCommandsHandTheirSemaphoresToTheDriver() throws {
        let event = try EventSemaphore()
        connection.importSemaphore(id: 5, event: event, flags: [])
        connection.importSemaphore(id: 6, event: try EventSemaphore(), flags: [])
        connection.createContext(id: 1, priority: .medium)
        connection.executeInlineCommands(contextId: 1, commands: [InlineCommand(data: [1, 2], semaphores: [5, 6]),
                                                                  InlineCommand(data: [3], semaphores: [])])
        connection.executeInlineCommands(contextId: 1, commands: [InlineCommand(data: [4], semaphores: [6])])
        connection.executeInlineCommands(contextId: 1, commands: [])
        let submitted = driver.log.withLock { $0.submitted }
        #expect(submitted.count == 2, "one piece of work per request, in order; an empty request submits nothing")
        guard case .inline(let commands) = submitted.first?.payload, case .inline(let second) = submitted.last?.payload else {
            Issue.record("not inline")
            return
        }
        #expect(commands.map(\.data) == [[1, 2], [3]], "the request's commands, in order")
        #expect(commands.map { RecordingDriver.ids($0.semaphores) } == [[5, 6], []])
        #expect(second.map(\.data) == [[4]])
        #expect(submitted.allSatisfy { $0.waitSemaphores.isEmpty && $0.signalSemaphores.isEmpty }, "MagmaSystem gives them no meaning")
        driver.completeNext(.ok)
        driver.completeNext(.ok)
        #expect(!event.isSignaled)
        #expect(connection.flush() == nil)
    }

    @Test func submissionsReachTheDriverAtOnceWithTheirWaitAndSignalLists() throws {
        let gate = try EventSemaphore()
        let done = try EventSemaphore()
        connection.importSemaphore(id: 1, event: gate, flags: [])
        connection.importSemaphore(id: 2, event: done, flags: [])
        connection.createContext(id: 1, priority: .medium)
        connection.executeCommand(contextId: 1, descriptor: CommandDescriptor(resources: [], commandBuffers: [],
                                                                             waitSemaphores: [1, 1], signalSemaphores: [2]))
        connection.executeCommand(contextId: 1, descriptor: CommandDescriptor(resources: [], commandBuffers: []))
        let submitted = driver.log.withLock { $0.submitted }
        #expect(submitted.count == 2, "the driver waits, not MagmaSystem")
        #expect(submitted.first.map { RecordingDriver.ids($0.waitSemaphores) } == [1, 1])
        #expect(submitted.first.map { RecordingDriver.ids($0.signalSemaphores) } == [2])
        #expect(submitted.last?.waitSemaphores.isEmpty == true)
        gate.signal()
        #expect(gate.isSignaled, "MagmaSystem never consumes a wait semaphore")
        connection.close()
        #expect(driver.log.withLock { $0.destroyedContexts } == 1)
        #expect(driver.log.withLock { $0.released } == 1)
    }
}

@Suite struct InlineBatchingTests {
    @Test func inlineBatchingStaysUnderTheMessageBound() {
        let commands = [InlineCommand](repeating: InlineCommand(data: [UInt8](repeating: 1, count: 100), semaphores: [1, 2]), count: 100)
        let batches: [ArraySlice<InlineCommand>] = InlineCommandBatching.batches(commands)
        let total = batches.map { $0.count }.reduce(0, +)
        #expect(total == 100)
        for batch in batches {
            let cost = batch.map(InlineCommandBatching.cost(of:)).reduce(0, +)
            #expect(cost < InlineCommandBatching.maxMessageDataSize)
        }
        let huge = [InlineCommand(data: [UInt8](repeating: 0, count: 5000))]
        #expect(InlineCommandBatching.batches(huge).map(\.count) == [1], "an oversized command travels alone")
    }
}
