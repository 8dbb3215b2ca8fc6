import Magma
import MagmaPlatform
import MagmaProtocol
import Synchronization
import SystemPackage

/// The one adapter of the Fuchsia-protocol backends (embedded and magmad): turns the backend
/// protocol's object calls into the primary protocol's requests (the generated
/// `PrimaryRequests`), and its calls and notifications into those of a `PrimaryTransport`.
///
/// It makes the objects the protocol imports (memfd buffers, eventfd semaphores) and allocates
/// their ids here, on the client side, per connection: the system only ever checks ids it was
/// given. Every request is feed-forward, so what the system rejects is a sticky error, reported
/// by `error` and `flush()`; only what is known here (memory that cannot be allocated, a
/// descriptor that is not a buffer or a semaphore, COMMIT and DECOMMIT) throws at once, and a
/// buffer's import is a round trip (ImportBuffer), since only the device knows whether it fits
/// in its heap's budget.
public final class PrimaryConnection: ConnectionBackend {
    /// Where the requests go: the system's own implementation in-process, an encoder to magmad.
    let requests: any PrimaryRequests<PrimaryHandle> & Sendable
    /// The calls, notifications and lifetime of the connection.
    let transport: any PrimaryTransport
    private let nextObjectId = Atomic<UInt64>(1)
    private let nextContextId = Atomic<UInt32>(1)
    /// Whether a buffer import may be a kernel driver's dma-buf (the embedded device, in this
    /// process) or only a size-sealed memfd (magmad, which refuses dma-bufs from clients).
    let acceptsDMABuf: Bool
    /// Whether the device runs in this process, so memory mapped here can be its buffer
    /// (`adoptBuffer`): the embedded device.
    let adoptsProcessMemory: Bool
    /// The device's memory types: which the CPU may map.
    let memoryTypes: [MemoryType]

    /// A connection whose requests go to `requests` and the rest to `transport`; buffer imports
    /// take dma-bufs too when `acceptsDMABuf`, and memory of this process is adopted when
    /// `adoptsProcessMemory` (the transport's device is in this process). `memoryTypes` are the
    /// device's.
    public init(requests: any PrimaryRequests<PrimaryHandle> & Sendable, transport: any PrimaryTransport, acceptsDMABuf: Bool = false,
                adoptsProcessMemory: Bool = false, memoryTypes: [MemoryType]) {
        self.requests = requests
        self.transport = transport
        self.acceptsDMABuf = acceptsDMABuf
        self.adoptsProcessMemory = adoptsProcessMemory
        self.memoryTypes = memoryTypes
    }

    /// The next buffer, semaphore or pool id of this connection: one sequence for every kind,
    /// so an id names one object.
    private func takeObjectId() -> ObjectId { nextObjectId.add(1, ordering: .relaxed).oldValue }

    // MARK: Buffers

    /// The memfd is made here; the device accepts or refuses it as memory of `memoryType` in a
    /// round trip (ImportBuffer), so an allocation past the heap's budget is MEMORY_ERROR at
    /// once and the connection stays usable.
    public func createBuffer(size: UInt64, memoryType: UInt32, name: String) throws(MagmaError) -> any BackendBuffer {
        guard let rounded = SharedMemory.pageAligned(size), rounded <= UInt64(Int.max) else {
            throw .invalidArgs("buffer size \(size) too large")
        }
        let memory: SharedMemory
        do { memory = try SharedMemory.create(size: Int(rounded), name: name.isEmpty ? "magma-buffer" : name) }
        catch { throw .memoryError("cannot allocate \(rounded) bytes: \(error)") }
        return try register(memory, memoryType: memoryType)
    }

    public func importBuffer(_ handle: OwnedFileDescriptor, memoryType: UInt32) throws(MagmaError) -> any BackendBuffer {
        let memory: SharedMemory
        if SharedMemory.isDMABuf(handle.fileDescriptor) {
            guard acceptsDMABuf else { throw .invalidArgs("a dma-buf: this device takes size-sealed memfds only") }
            do { memory = try SharedMemory.importing(dmaBuf: handle) } catch { throw .invalidArgs("not a usable dma-buf: \(error)") }
        } else {
            do { memory = try SharedMemory.importing(handle) } catch { throw .invalidArgs("not a buffer: \(error)") }
        }
        return try register(memory, memoryType: memoryType)
    }

    /// The memory goes to the in-process device as it is (ImportBuffer's round trip, with no
    /// descriptor); UNIMPLEMENTED where the device is in another process.
    public func adoptBuffer(_ memory: SharedMemory, memoryType: UInt32) throws(MagmaError) -> any BackendBuffer {
        guard adoptsProcessMemory else { throw .unimplemented("adopting memory of this process: the device is in another process") }
        return try register(memory, memoryType: memoryType)
    }

    private func register(_ memory: SharedMemory, memoryType: UInt32) throws(MagmaError) -> MemfdBuffer {
        let id = takeObjectId()
        try transport.importBuffer(memory, id: id, memoryType: memoryType)
        let hostVisible = Int(memoryType) < memoryTypes.count && memoryTypes[Int(memoryType)].propertyFlags.contains(.hostVisible)
        return MemfdBuffer(id: id, memory: memory, hostVisible: hostVisible)
    }

    public func memoryBudget(heap: UInt32) throws(MagmaError) -> MemoryBudget { try transport.memoryBudget(heap: heap) }

    public func release(_ buffer: any BackendBuffer) throws(MagmaError) { requests.releaseObject(objectId: buffer.id, objectType: .buffer) }

    /// COMMIT and DECOMMIT act on the memfd here and report their own errors, as Fuchsia's
    /// client does (on an imported dma-buf or adopted guest pages, always resident, COMMIT
    /// succeeds and DECOMMIT is UNIMPLEMENTED): offset and length must be whole pages (and the length nonzero), a COMMIT
    /// past the end is MEMORY_ERROR, a DECOMMIT past it INVALID_ARGS. POPULATE_TABLES and
    /// DEPOPULATE_TABLES go to the system, which applies the same alignment rule.
    public func perform(_ op: BufferRangeOp, on buffer: any BackendBuffer, offset: UInt64, length: UInt64) throws(MagmaError) {
        switch op {
        case .commit, .decommit:
            guard let memory = (buffer as? MemfdBuffer)?.memory else { throw .invalidArgs("buffer \(buffer.id) is not this backend's") }
            try op.checkPages(offset: offset, length: length, bufferSize: buffer.size)
            switch memory.kind {
            case .memfd: break
            case .dmaBuf:
                // The exporting driver's pages are resident for the buffer's life.
                if op == .commit { return }
                throw .unimplemented("decommit of a dma-buf buffer: its pages belong to the exporting driver")
            case .guestPages:
                // The guest's pages: the guest, not this buffer, decides what backs them.
                if op == .commit { return }
                throw .unimplemented("decommit of a buffer of guest pages: its pages belong to the guest")
            }
            do {
                if op == .commit { try memory.commit(offset: Int(offset), length: Int(length)) }
                else { try memory.decommit(offset: Int(offset), length: Int(length)) }
            } catch { throw .memoryError("\(error)") }
        case .populateTables, .depopulateTables:
            requests.bufferRangeOp(op: op == .populateTables ? .populateTables : .depopulateTables,
                                   range: BufferRange(bufferId: buffer.id, offset: offset, length: length))
        }
    }

    // MARK: Sync objects

    public func createSemaphore() throws(MagmaError) -> any BackendSemaphore {
        let event: EventSemaphore
        do { event = try EventSemaphore() } catch { throw .memoryError("\(error)") }
        return register(event, flags: [])
    }

    public func importSemaphore(_ handle: OwnedFileDescriptor, flags: ImportSemaphoreFlags) throws(MagmaError) -> any BackendSemaphore {
        let event: EventSemaphore
        do { event = try EventSemaphore(importing: handle) } catch { throw .invalidArgs("not a semaphore: \(error)") }
        return register(event, flags: flags)
    }

    private func register(_ event: EventSemaphore, flags: ImportSemaphoreFlags) -> EventfdSemaphore {
        let semaphore = EventfdSemaphore(id: takeObjectId(), event: event, oneShot: flags.contains(.oneShot))
        requests.importObject(object: .semaphore(event), objectType: .semaphore, objectId: semaphore.id, flags: flags)
        return semaphore
    }

    public func release(_ semaphore: any BackendSemaphore) throws(MagmaError) { requests.releaseObject(objectId: semaphore.id, objectType: .semaphore) }

    // MARK: Timelines

    public func createTimeline(initialValue: UInt64) throws(MagmaError) -> any BackendTimeline {
        let timeline: Timeline
        do { timeline = try Timeline.create(initialValue: initialValue) } catch { throw .memoryError("\(error)") }
        return register(timeline)
    }

    public func importTimeline(_ handle: OwnedFileDescriptor) throws(MagmaError) -> any BackendTimeline {
        let timeline: Timeline
        do { timeline = try Timeline.importing(handle) } catch { throw .invalidArgs("not a timeline: \(error)") }
        return register(timeline)
    }

    private func register(_ timeline: Timeline) -> MemfdTimeline {
        let object = MemfdTimeline(id: takeObjectId(), timeline: timeline)
        requests.importObject(object: .timeline(timeline), objectType: .timeline, objectId: object.id, flags: [])
        return object
    }

    public func release(_ timeline: any BackendTimeline) throws(MagmaError) { requests.releaseObject(objectId: timeline.id, objectType: .timeline) }

    // MARK: Contexts and the address space

    public func createContext(queueFamily: UInt32, priority: Priority) throws(MagmaError) -> UInt32 {
        let id = nextContextId.add(1, ordering: .relaxed).oldValue
        requests.createContext(contextId: id, priority: priority, queueFamily: queueFamily)
        return id
    }

    public func destroyContext(_ id: UInt32) throws(MagmaError) { requests.destroyContext(contextId: id) }

    public func map(_ buffer: any BackendBuffer, at gpuAddress: UInt64, offset: UInt64, length: UInt64, flags: MapFlags) throws(MagmaError) {
        requests.mapBuffer(gpuAddress: gpuAddress, range: BufferRange(bufferId: buffer.id, offset: offset, length: length), flags: flags)
    }

    public func unmap(_ buffer: any BackendBuffer, at gpuAddress: UInt64) throws(MagmaError) {
        requests.unmapBuffer(gpuAddress: gpuAddress, bufferId: buffer.id)
    }

    // MARK: Submissions

    public func execute(contextId: UInt32, _ descriptor: CommandDescriptor) throws(MagmaError) {
        requests.executeCommand(contextId: contextId, resources: descriptor.resources, commandBuffers: descriptor.commandBuffers,
                                waitSemaphores: descriptor.waitSemaphores, signalSemaphores: descriptor.signalSemaphores, flags: descriptor.flags,
                                waitTimelinePoints: descriptor.waitTimelinePoints, signalTimelinePoints: descriptor.signalTimelinePoints)
    }

    public func execute(contextId: UInt32, _ command: GpuAddressCommand) throws(MagmaError) {
        requests.executeCommandAtAddress(contextId: contextId, gpuAddress: command.gpuAddress, length: command.length,
                                         waitSemaphores: command.waitSemaphores, signalSemaphores: command.signalSemaphores, flags: command.flags,
                                         waitTimelinePoints: command.waitTimelinePoints, signalTimelinePoints: command.signalTimelinePoints)
    }

    public func bind(contextId: UInt32, _ submission: BindSubmission) throws(MagmaError) {
        requests.bind(contextId: contextId, operations: submission.operations, waitSemaphores: submission.waitSemaphores,
                      signalSemaphores: submission.signalSemaphores, waitTimelinePoints: submission.waitTimelinePoints,
                      signalTimelinePoints: submission.signalTimelinePoints)
    }

    /// Splits `commands` into messages below the protocol's size bound.
    public func executeInline(contextId: UInt32, _ commands: [InlineCommand]) throws(MagmaError) {
        if InlineCommandBatching.fitsOneMessage(commands) {
            // The common case: one message, the array as it is (no batches, no copy).
            if !commands.isEmpty { requests.executeInlineCommands(contextId: contextId, commands: commands) }
            return
        }
        for batch in InlineCommandBatching.batches(commands) {
            requests.executeInlineCommands(contextId: contextId, commands: Array(batch))
        }
    }

    // MARK: Performance counters

    public func enablePerformanceCounterAccess(token: OwnedFileDescriptor) throws(MagmaError) {
        requests.enablePerformanceCounterAccess(accessToken: .descriptor(token))
    }

    public func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool { try transport.isPerformanceCounterAccessAllowed() }

    public func enablePerformanceCounters(_ counters: [UInt64]) throws(MagmaError) { requests.enablePerformanceCounters(counters: counters) }

    public func clearPerformanceCounters(_ counters: [UInt64]) throws(MagmaError) { requests.clearPerformanceCounters(counters: counters) }

    public func createPerformanceCounterPool() throws(MagmaError) -> any BackendPerformanceCounterPool {
        let id = takeObjectId()
        let channel = try transport.makePerformanceCounterChannel()
        requests.createPerformanceCounterBufferPool(poolId: id, eventChannel: channel.handle)
        return PrimaryPerformanceCounterPool(id: id, source: channel.events)
    }

    public func release(_ pool: any BackendPerformanceCounterPool) throws(MagmaError) {
        requests.releasePerformanceCounterBufferPool(poolId: pool.id)
    }

    public func addPerformanceCounterRanges(_ ranges: [BufferRange], to pool: any BackendPerformanceCounterPool) throws(MagmaError) {
        requests.addPerformanceCounterBufferOffsetsToPool(poolId: pool.id, offsets: ranges)
    }

    public func removePerformanceCounterBuffer(_ buffer: any BackendBuffer, from pool: any BackendPerformanceCounterPool) throws(MagmaError) {
        requests.removePerformanceCounterBufferFromPool(poolId: pool.id, bufferId: buffer.id)
    }

    public func dumpPerformanceCounters(into pool: any BackendPerformanceCounterPool, triggerId: UInt32) throws(MagmaError) {
        requests.dumpPerformanceCounters(poolId: pool.id, triggerId: triggerId)
    }

    // MARK: Errors and lifetime

    public func flush() -> MagmaError? { transport.flush() }
    public var error: MagmaError? { transport.error }
    public var errorAfterWake: MagmaError? { transport.errorAfterWake }
    /// The transport's failure descriptor, borrowed (`ConnectionBackend.failureDescriptor`).
    public var failureDescriptor: FileDescriptor { transport.failureDescriptor }
    /// The transport's notification descriptor, borrowed (`ConnectionBackend.notificationDescriptor`).
    public var notificationDescriptor: FileDescriptor { transport.notificationDescriptor }
    public var notificationChannelError: MagmaError? { transport.notificationChannelError }
    public func readNotification() throws(MagmaError) -> [UInt8]? { try transport.readNotification() }
    public func close() { transport.close() }
}
