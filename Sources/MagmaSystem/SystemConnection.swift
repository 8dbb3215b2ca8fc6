import MagmaPlatform
import MagmaProtocol

/// One client's connection: its object tables, address space and contexts.
///
/// Every request is validated here before it reaches the driver. Requests are feed-forward:
/// a bad one does not return an error to its caller; it closes the connection with that
/// error (sent once to the sink as the epitaph) and every later request is ignored. `flush()`
/// and `error` report it.
public final class SystemConnection: Sendable {
    /// The id the device gave this client.
    public let clientId: UInt64
    /// Whether the client may use privileged features.
    public let trust: ClientTrust
    /// What the connection may hold.
    public let limits: ConnectionLimits
    /// What the client's connections hold together, if the client has an account.
    public let account: ResourceAccount?
    let device: SystemDevice
    private let sink: any NotificationSink
    let state = Locked(ConnectionState())
    private let reporter: Reporter
    /// The driver's connection.
    let msd: any MsdConnection

    init(device: SystemDevice, clientId: UInt64, trust: ClientTrust, limits: ConnectionLimits, account: ResourceAccount?,
         sink: any NotificationSink) throws(MagmaError) {
        self.device = device
        self.clientId = clientId
        self.trust = trust
        self.limits = limits
        self.account = account
        self.sink = sink
        reporter = Reporter(sink: sink)
        msd = try device.msd.openConnection(clientId: clientId, notifications: reporter)
        reporter.connection.withLock { $0.value = self }
    }

    deinit { close() }

    /// The sticky error, once the connection has failed.
    public var error: MagmaError? { state.withLock { $0.error } }

    /// Returns the sticky error, if any: every request before this one has been observed.
    public func flush() -> MagmaError? { error }

    // MARK: Buffers

    /// Imports buffer memory under a client-chosen id as memory type 0 (Fuchsia's feed-forward
    /// import): the driver makes its buffer of it. Importing the same memory again under the
    /// same id counts another import of that buffer; other memory under a used id is
    /// INVALID_ARGS. An allocation the heap refuses fails the connection, as any error here.
    public func importBuffer(id: ObjectId, memory: SharedMemory) {
        if let refusal = admitBuffer(id: id, memory: memory, memoryType: 0) { fail(refusal) }
    }

    /// The one import path: counts the new buffer's bytes against its memory type's heap
    /// (device-wide) and returns the refusal, without failing the connection, when the type is
    /// unknown (INVALID_ARGS), the size passes the device's largest allocation or the heap's
    /// budget (MEMORY_ERROR); any other error fails the connection.
    func admitBuffer(id: ObjectId, memory: SharedMemory, memoryType: UInt32) -> MagmaError? {
        var refusal: MagmaError?
        let size = UInt64(memory.size)
        perform { [device, limits] state throws(MagmaError) in
            guard id != invalidObjectId else { throw .invalidArgs("buffer id 0") }
            if var entry = state.buffers[id] {
                guard entry.memory.identity == memory.identity else {
                    throw .invalidArgs("buffer id \(id) already names other memory")
                }
                entry.imports += 1
                state.buffers[id] = entry
                return
            }
            try state.checkRoom(for: size, within: limits)
            let heap: Int
            do throws(MagmaError) {
                heap = Int(try device.info.memoryProperties.memoryType(memoryType).heapIndex)
                guard size <= device.info.limits.maxAllocationSize else {
                    throw .memoryError("\(size) bytes pass the device's largest allocation, \(device.info.limits.maxAllocationSize)")
                }
                try device.heaps.reserve(size, in: heap)
            } catch {
                refusal = error
                return
            }
            let buffer: any MsdBuffer
            do throws(MagmaError) { buffer = try device.msd.importBuffer(memory: memory, id: id) } catch {
                device.heaps.release(size, in: heap)
                throw error
            }
            state.buffers[id] = BufferEntry(memory: memory, buffer: buffer, imports: 1, inflight: 0, heap: heap)
            state.importedBytes += size
        }
        return refusal
    }

    /// Releases one import of a buffer; the last release unmaps it everywhere, then releases
    /// the driver's buffer. Releasing a buffer that in-flight work uses is BAD_STATE.
    public func releaseBuffer(id: ObjectId) {
        perform { [msd, device] state throws(MagmaError) in
            var entry = try state.buffer(id)
            guard !entry.isHeld else { throw .badState("buffer \(id) released while in flight") }
            entry.imports -= 1
            if entry.imports > 0 {
                state.buffers[id] = entry
                return
            }
            state.buffers[id] = nil
            state.importedBytes -= UInt64(entry.memory.size)
            device.heaps.release(UInt64(entry.memory.size), in: entry.heap)
            state.mappings.removeAll(of: id).forEach { msd.unmap($0) }
            entry.buffer.release()
        }
    }

    // MARK: Semaphores

    /// Imports a semaphore under a client-chosen id: the driver makes its semaphore of it. A
    /// used id or 0 is INVALID_ARGS.
    public func importSemaphore(id: ObjectId, event: EventSemaphore, flags: ImportSemaphoreFlags) {
        perform { [device, limits] state throws(MagmaError) in
            guard id != invalidObjectId else { throw .invalidArgs("semaphore id 0") }
            guard state.semaphores[id] == nil else { throw .invalidArgs("semaphore id \(id) already imported") }
            try state.checkRoom(within: limits)
            guard ImportSemaphoreFlags.oneShot.union(flags) == .oneShot else {
                throw .invalidArgs("unknown semaphore import flags \(flags.rawValue)")
            }
            state.semaphores[id] = try device.msd.importSemaphore(event: event, id: id, flags: flags)
        }
    }

    /// Releases a semaphore: the driver's semaphore is released. Work already submitted may
    /// still wait on it or signal it (the driver keeps it for that).
    public func releaseSemaphore(id: ObjectId) {
        perform { state throws(MagmaError) in
            guard let semaphore = state.semaphores.removeValue(forKey: id) else { throw .invalidArgs("unknown semaphore id \(id)") }
            semaphore.release()
        }
    }

    // MARK: Contexts

    /// Creates a context under a client-chosen id in queue family `queueFamily` (an unknown
    /// family is INVALID_ARGS; past the family's count of contexts, MEMORY_ERROR). Priorities
    /// above medium need a trusted client (ACCESS_DENIED otherwise).
    public func createContext(id: UInt32, priority: Priority, queueFamily: UInt32 = 0) {
        perform { [msd, trust, limits, device] state throws(MagmaError) in
            guard state.contexts[id] == nil else { throw .invalidArgs("context id \(id) already exists") }
            try state.checkRoom(within: limits)
            guard priority <= .medium || trust == .trusted else {
                throw .accessDenied("priority \(priority.rawValue) needs a trusted client")
            }
            let family = try device.info.queueFamily(queueFamily)
            let held = state.contextFamilies.values.count { $0 == queueFamily }
            guard held < Int(family.count) else {
                throw .memoryError("queue family \(queueFamily) allows \(family.count) contexts per connection")
            }
            state.contexts[id] = try msd.createContext(priority: priority, queueFamily: queueFamily)
            state.contextFamilies[id] = queueFamily
        }
    }

    /// Destroys a context; the driver completes its queued work (waiting for semaphores or not)
    /// with CONTEXT_KILLED, which closes the connection with that status (the work never
    /// signals its semaphores).
    public func destroyContext(id: UInt32) {
        perform { state throws(MagmaError) in
            guard let context = state.contexts.removeValue(forKey: id) else { throw .invalidArgs("unknown context id \(id)") }
            state.contextFamilies[id] = nil
            context.destroy()
        }
    }

    // MARK: Mappings

    /// Maps `length` bytes of a buffer from `offset` at `gpuAddress`. Addresses, offsets and
    /// lengths must be page aligned and in range, flags must be known and non-empty, and the
    /// range must not overlap another mapping.
    public func mapBuffer(gpuAddress: UInt64, bufferId: ObjectId, offset: UInt64, length: UInt64, flags: MapFlags) {
        perform { [msd, limits] state throws(MagmaError) in
            let entry = try state.buffer(bufferId)
            try MapFlags.checkForMapping(flags)
            guard length > 0 else { throw .invalidArgs("map of zero length") }
            try RangeCheck.pageAligned(gpuAddress, "gpu address")
            try RangeCheck.pageAligned(offset, "map offset")
            try RangeCheck.pageAligned(length, "map length")
            _ = try RangeCheck.end(offset: offset, length: length, within: UInt64(entry.memory.size), "map of buffer \(bufferId)")
            let end = try RangeCheck.end(offset: gpuAddress, length: length, within: RangeCheck.addressSpaceEnd, "gpu range")
            guard !state.mappings.overlaps(start: gpuAddress, end: end) else {
                throw .invalidArgs("gpu range 0x\(String(gpuAddress, radix: 16))..<0x\(String(end, radix: 16)) overlaps a mapping")
            }
            try state.checkNoQueuedBind(gpuAddress..<end)
            try state.checkRoom(within: limits)
            let mapping = GpuMapping(gpuAddress: gpuAddress, buffer: entry.buffer, bufferId: bufferId,
                                     offset: offset, length: length, flags: flags)
            try msd.map(mapping)
            state.mappings.insert(mapping)
        }
    }

    /// Unmaps the mapping of `bufferId` at `gpuAddress`. Unmapping a buffer that in-flight work
    /// uses is BAD_STATE.
    public func unmapBuffer(gpuAddress: UInt64, bufferId: ObjectId) {
        perform { [msd] state throws(MagmaError) in
            guard let mapping = state.mappings.mapping(at: gpuAddress), mapping.bufferId == bufferId else {
                throw .invalidArgs("no mapping of buffer \(bufferId) at 0x\(String(gpuAddress, radix: 16))")
            }
            guard try !state.buffer(bufferId).isHeld else {
                throw .badState("buffer \(bufferId) unmapped while in flight")
            }
            _ = state.mappings.remove(at: gpuAddress)
            msd.unmap(mapping)
        }
    }

    /// Populates or depopulates the page tables of every mapping of a buffer over a byte range
    /// of the buffer. The range is whole pages (INVALID_ARGS otherwise, as for the client's
    /// COMMIT and DECOMMIT). COMMIT and DECOMMIT are client-side operations and are
    /// INVALID_ARGS here.
    public func bufferRangeOp(bufferId: ObjectId, op: BufferRangeOp, offset: UInt64, length: UInt64) {
        perform { [msd] state throws(MagmaError) in
            let entry = try state.buffer(bufferId)
            guard op == .populateTables || op == .depopulateTables else {
                throw .invalidArgs("\(op) is performed by the client, not the system")
            }
            guard length > 0 else { throw .invalidArgs("range op of zero length") }
            try RangeCheck.pageAligned(offset, "\(op) offset")
            try RangeCheck.pageAligned(length, "\(op) length")
            _ = try RangeCheck.end(offset: offset, length: length, within: UInt64(entry.memory.size), "range op on buffer \(bufferId)")
            if op == .depopulateTables, entry.inflight > 0 {
                throw .badState("buffer \(bufferId) depopulated while in flight")
            }
            guard entry.bindHolds == 0 else { throw .badState("buffer \(bufferId) has bind operations queued") }
            for mapping in state.mappings.mappings(of: bufferId) {
                try msd.updatePageTables(op, mapping: mapping, offset: offset, length: length)
            }
        }
    }

    // MARK: Execution

    /// Submits command buffers on a context. Every resource must be an imported buffer range,
    /// every command buffer must start inside its resource, and every semaphore must be known.
    /// The work goes to the driver at once, under this connection's lock, with its wait and
    /// signal lists: the driver waits for the semaphores and signals them.
    public func executeCommand(contextId: UInt32, descriptor: CommandDescriptor) {
        perform { [limits] state throws(MagmaError) in
            let context = try commandContext(contextId, state)
            var resources: [ResolvedResource] = []
            resources.reserveCapacity(descriptor.resources.count)
            for range in descriptor.resources {
                let entry = try state.buffer(range.bufferId)
                _ = try RangeCheck.end(offset: range.offset, length: range.length, within: UInt64(entry.memory.size), "resource \(range.bufferId)")
                resources.append(ResolvedResource(range: range, buffer: entry.buffer))
            }
            for commandBuffer in descriptor.commandBuffers {
                guard Int(commandBuffer.resourceIndex) < resources.count else {
                    throw .invalidArgs("command buffer resource index \(commandBuffer.resourceIndex) out of \(resources.count)")
                }
                guard commandBuffer.startOffset < resources[Int(commandBuffer.resourceIndex)].range.length else {
                    throw .invalidArgs("command buffer start offset \(commandBuffer.startOffset) outside its resource")
                }
            }
            let waits = try descriptor.waitSemaphores.map { id throws(MagmaError) in try state.semaphore(id) }
            let signals = try descriptor.signalSemaphores.map { id throws(MagmaError) in try state.semaphore(id) }
            let timelineWaits = try descriptor.waitTimelinePoints.map { point throws(MagmaError) in try state.timelinePoint(point) }
            let timelineSignals = try descriptor.signalTimelinePoints.map { point throws(MagmaError) in try state.timelinePoint(point) }
            let payload = GpuWork.Payload.commandBuffers(resources: resources, entries: descriptor.commandBuffers, flags: descriptor.flags)
            let listed = signals.count + timelineWaits.count + timelineSignals.count
            try state.takePending(GpuWork.pendingCost(of: payload, signals: listed), within: limits)
            let work = makeWork(payload, waits: waits, signals: signals, timelineWaits: timelineWaits, timelineSignals: timelineSignals)
            for id in work.resourceIds { state.buffers[id]?.inflight += 1 }
            context.submit(work)
        }
    }

    /// Submits inline commands on a context, in order, as one piece of work (one sequence
    /// number, one completion) with the semaphores listed with each command. Each command's
    /// semaphores must be known; the driver defines what it does with them (MagmaSystem
    /// signals nothing). An empty list submits nothing.
    public func executeInlineCommands(contextId: UInt32, commands: [InlineCommand]) {
        perform { [limits] state throws(MagmaError) in
            let context = try commandContext(contextId, state)
            var resolved: [ResolvedInlineCommand] = []
            resolved.reserveCapacity(commands.count)
            for command in commands {
                guard !command.data.isEmpty else { throw MagmaError.invalidArgs("inline command without data") }
                let semaphores = command.semaphores.isEmpty ? [] : try command.semaphores.map { id throws(MagmaError) in try state.semaphore(id) }
                resolved.append(ResolvedInlineCommand(data: command.data, semaphores: semaphores))
            }
            guard !resolved.isEmpty else { return }
            let payload = GpuWork.Payload.inline(resolved)
            try state.takePending(GpuWork.pendingCost(of: payload, signals: 0), within: limits)
            context.submit(makeWork(payload, waits: [], signals: []))
        }
    }

    func makeWork(_ payload: GpuWork.Payload, waits: [any MsdSemaphore], signals: [any MsdSemaphore],
                          timelineWaits: [MsdTimelinePoint] = [], timelineSignals: [MsdTimelinePoint] = []) -> GpuWork {
        let ids = payload.resourceIds
        let cost = GpuWork.pendingCost(of: payload, signals: signals.count + timelineWaits.count + timelineSignals.count)
        return GpuWork(payload: payload, resourceIds: ids, waitSemaphores: waits, signalSemaphores: signals,
                       waitTimelinePoints: timelineWaits, signalTimelinePoints: timelineSignals) { [weak self] status in
            self?.workCompleted(resourceIds: ids, cost: cost, status: status)
        }
    }

    /// Work that did not complete signals no semaphore (the driver's rule); the connection fails,
    /// so that whoever waits on them learns it (a fault has already failed it with its reason;
    /// what is left is work abandoned with its destroyed context).
    private func workCompleted(resourceIds: [ObjectId], cost: UInt64, status: MagmaStatus) {
        state.withLock { state in
            guard !state.closed else { return }
            state.pendingBytes -= cost
            for id in resourceIds { state.buffers[id]?.inflight -= 1 }
            try? charge(&state)   // giving back never fails
        }
        if status != .ok { fail(MagmaError(status, "submitted work was abandoned before it ran: its context was destroyed")) }
    }

    // MARK: Errors and teardown

    /// Closes the connection (the client went away). Idempotent.
    public func close() {
        state.withLock { state in
            if !state.closed { teardown(&state) }
        }
    }

    // MARK: Performance counters

    /// Grants access to performance counters if `token` is the identity of this device's
    /// `performanceCounterToken`. Any other token is ignored: access stays as it was. Every
    /// connection, trusted or not, starts without access: only the token grants it.
    public func enablePerformanceCounterAccess(token: MemoryIdentity) {
        perform { [device] state throws(MagmaError) in
            if token == device.performanceCounterToken.identity { state.performanceCounterAccess = true }
        }
    }

    /// Whether an `enablePerformanceCounterAccess` has succeeded.
    public var isPerformanceCounterAccessAllowed: Bool { state.withLock { $0.performanceCounterAccess } }

    /// Kills the connection with `error` unless it already failed: for what the transport
    /// finds wrong (a malformed message, a descriptor of the wrong kind).
    public func fail(_ error: MagmaError) {
        perform { _ throws(MagmaError) in throw error }
    }

    /// Runs a request against the tables; a thrown error becomes the connection's epitaph,
    /// delivered after `lastNotification` (which is dropped if the request succeeds).
    /// The pools' event channels close only after the epitaph has gone out, so a client woken
    /// by a pool channel's end finds the epitaph already there.
    func perform(lastNotification: [UInt8]? = nil, _ body: (inout ConnectionState) throws(MagmaError) -> Void) {
        var epitaph: MagmaError?
        var retiredPools: [UInt64: PerformanceCounterPoolEntry] = [:]
        state.withLock { state in
            guard !state.closed else { return }
            do throws(MagmaError) {
                try body(&state)
                try charge(&state)
            } catch {
                state.error = error
                epitaph = error
                retiredPools = state.counterPools
                teardown(&state)
            }
        }
        guard let epitaph else { return }
        if let lastNotification { sink.deliver(lastNotification) }
        sink.connectionClosed(epitaph)
        withExtendedLifetime(retiredPools) {}
    }

    /// Holds what the request left in `state` to the descriptor limit and charges it to the
    /// account (MEMORY_ERROR past either).
    func charge(_ state: inout ConnectionState) throws(MagmaError) {
        let usage = state.usage
        guard usage != state.charged else { return }
        if usage.descriptors > state.charged.descriptors, usage.descriptors > limits.maxDescriptors {
            throw .memoryError("connection holds \(usage.descriptors) descriptors; \(limits.maxDescriptors) is the limit")
        }
        try account?.move(from: state.charged, to: usage)
        state.charged = usage
    }

    /// Drops every object, in the driver's order: contexts destroyed (their queued work
    /// completes with CONTEXT_KILLED), pools released, the connection released (with its
    /// address space), then each buffer and semaphore released once.
    private func teardown(_ state: inout ConnectionState) {
        try? account?.move(from: state.charged, to: ResourceAccount.Usage())   // shrinking always succeeds
        state.charged = ResourceAccount.Usage()
        state.closed = true
        for context in state.contexts.values { context.destroy() }
        state.contexts = [:]
        state.contextFamilies = [:]
        for entry in state.counterPools.values { msd.releasePerformanceCounterPool(entry.pool) }
        state.counterPools = [:]
        state.mappings = MappingTable()
        reporter.connection.withLock { $0.value = nil }
        msd.release()
        for entry in state.buffers.values {
            device.heaps.release(UInt64(entry.memory.size), in: entry.heap)
            entry.buffer.release()
        }
        state.buffers = [:]
        for semaphore in state.semaphores.values { semaphore.release() }
        state.semaphores = [:]
        for timeline in state.timelines.values { timeline.release() }
        state.timelines = [:]
    }

    /// Forwards driver reports to the connection while it is open.
    private final class Reporter: MsdNotificationHandler {
        struct WeakConnection { weak var value: SystemConnection? }
        let sink: any NotificationSink
        let connection = Locked(WeakConnection())

        init(sink: any NotificationSink) { self.sink = sink }

        func send(_ message: [UInt8]) {
            guard connection.withLock({ $0.value }) != nil else { return }
            sink.deliver(message)
        }

        func contextKilled(_ reason: String, lastNotification: [UInt8]?) {
            connection.withLock { $0.value }?.perform(lastNotification: lastNotification) { _ throws(MagmaError) in
                throw MagmaError(.contextKilled, reason)
            }
        }
    }
}
