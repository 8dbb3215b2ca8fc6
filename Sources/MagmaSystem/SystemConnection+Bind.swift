import MagmaProtocol

/// The asynchronous bind queue (xe's and panthor's VM_BIND): binds validated on arrival against
/// the address space as it will be, applied by the driver when they run.
extension SystemConnection {
    /// Queues a bind on a context of a family that runs binds. Validated now, under the
    /// connection's lock, against the address space as it will be once every bind queued
    /// before has run (`ConnectionState.mappings` is that space; this bind changes it at
    /// once): the context and every semaphore and timeline known; 1 to
    /// `BindSubmission.maxOperations` operations; each aligned, in range and with its fields
    /// as its kind needs; a map overlapping nothing, an unmap splitting no mapping; no range
    /// meeting one a bind queued on another context changes (BAD_STATE: the two would race).
    /// Any failure fails the connection (feed-forward). The operations hold their buffers (no
    /// release, unmap or depopulate) until the bind has run. Whether an unmapped buffer is
    /// still in use by other work is judged when the bind runs (`GpuWork.admitBind`).
    public func bind(contextId: UInt32, _ submission: BindSubmission) {
        perform { [limits, device] state throws(MagmaError) in
            let context = try state.context(contextId)
            let family = try device.info.queueFamily(state.contextFamilies[contextId] ?? 0)
            guard family.runsBinds else { throw .invalidArgs("context \(contextId) is of a queue family that runs no binds") }
            let count = submission.operations.count
            guard count > 0 else { throw .invalidArgs("bind without operations") }
            guard count <= BindSubmission.maxOperations else {
                throw .invalidArgs("bind of \(count) operations; \(BindSubmission.maxOperations) is the most")
            }
            let waits = try submission.waitSemaphores.map { id throws(MagmaError) in try state.semaphore(id) }
            let signals = try submission.signalSemaphores.map { id throws(MagmaError) in try state.semaphore(id) }
            let timelineWaits = try submission.waitTimelinePoints.map { point throws(MagmaError) in try state.timelinePoint(point) }
            let timelineSignals = try submission.signalTimelinePoints.map { point throws(MagmaError) in try state.timelinePoint(point) }
            // A refused bind fails the connection, whose teardown drops whatever part of it
            // was applied here: there is nothing to roll back.
            var resolved: [MsdBindOperation] = []
            var ranges: [QueuedBindRange] = []
            for (index, operation) in submission.operations.enumerated() {
                let (changes, range) = try Self.apply(operation, index: index, on: contextId, to: &state, within: limits)
                resolved += changes
                ranges.append(range)
            }
            let payload = GpuWork.Payload.bind(resolved)
            let listed = signals.count + timelineWaits.count + timelineSignals.count
            try state.takePending(GpuWork.pendingCost(of: payload, signals: listed), within: limits)
            state.queuedBindRanges += ranges
            context.submit(makeBindWork(resolved, ranges: ranges, waits: waits, signals: signals,
                                        timelineWaits: timelineWaits, timelineSignals: timelineSignals))
        }
    }

    /// The context `id`, which must run command submissions (a bind-only family's does not:
    /// INVALID_ARGS).
    func commandContext(_ id: UInt32, _ state: ConnectionState) throws(MagmaError) -> any MsdContext {
        let context = try state.context(id)
        guard try device.runsCommands(family: state.contextFamilies[id] ?? 0) else {
            throw .invalidArgs("context \(id) is of a bind-only queue family: it runs binds, not commands")
        }
        return context
    }

    /// Checks one operation against the planned space and applies it there: the mapping it
    /// adds, or every mapping inside the range it removes, each holding its buffer. Returns
    /// those changes and the operation's range.
    private static func apply(_ operation: BindOperation, index: Int, on contextId: UInt32, to state: inout ConnectionState,
                              within limits: ConnectionLimits) throws(MagmaError) -> ([MsdBindOperation], QueuedBindRange) {
        func what() -> String { "bind operation \(index)" }   // made only for an error
        guard operation.length > 0 else { throw .invalidArgs("\(what()): zero length") }
        try RangeCheck.pageAligned(operation.gpuAddress, "\(what()): gpu address")
        try RangeCheck.pageAligned(operation.length, "\(what()): length")
        let end = try RangeCheck.end(offset: operation.gpuAddress, length: operation.length, within: RangeCheck.addressSpaceEnd, "\(what()): gpu range")
        let range = operation.gpuAddress..<end
        let queued = QueuedBindRange(context: contextId, range: range)
        switch operation.kind {
        case .map:
            let entry = try state.buffer(operation.bufferId)
            try MapFlags.checkForMapping(operation.flags)
            try RangeCheck.pageAligned(operation.offset, "\(what()): offset")
            _ = try RangeCheck.end(offset: operation.offset, length: operation.length, within: UInt64(entry.memory.size),
                                   "\(what()): buffer \(operation.bufferId)")
            guard !state.mappings.overlaps(start: range.lowerBound, end: end) else {
                throw .invalidArgs("\(what()): gpu range 0x\(String(range.lowerBound, radix: 16))..<0x\(String(end, radix: 16)) overlaps a mapping")
            }
            try state.checkNoQueuedBind(range, except: contextId)
            try state.checkRoom(within: limits)
            let mapping = GpuMapping(gpuAddress: operation.gpuAddress, buffer: entry.buffer, bufferId: operation.bufferId,
                                     offset: operation.offset, length: operation.length, flags: operation.flags)
            state.mappings.insert(mapping)
            state.buffers[operation.bufferId]?.bindHolds += 1
            return ([.map(mapping)], queued)
        case .unmap:
            guard operation.bufferId == 0, operation.offset == 0, operation.flags.isEmpty else {
                throw .invalidArgs("\(what()): an unmap names no buffer, offset or flags")
            }
            try state.checkNoQueuedBind(range, except: contextId)
            let inside = state.mappings.mappings(overlapping: range)
            if let split = inside.first(where: { $0.gpuAddress < range.lowerBound || $0.endAddress > end }) {
                throw .invalidArgs("\(what()): the range would split the mapping at 0x\(String(split.gpuAddress, radix: 16))")
            }
            for mapping in inside {
                _ = state.mappings.remove(at: mapping.gpuAddress)
                state.buffers[mapping.bufferId]?.bindHolds += 1
            }
            return (inside.map { .unmap($0) }, queued)
        }
    }

    /// Bind work: admitted when it runs by `admitBind(unmapping:)`; its completion lets its
    /// buffers and ranges go.
    private func makeBindWork(_ operations: [MsdBindOperation], ranges: [QueuedBindRange], waits: [any MsdSemaphore],
                              signals: [any MsdSemaphore], timelineWaits: [MsdTimelinePoint], timelineSignals: [MsdTimelinePoint]) -> GpuWork {
        let payload = GpuWork.Payload.bind(operations)
        let cost = GpuWork.pendingCost(of: payload, signals: signals.count + timelineWaits.count + timelineSignals.count)
        let unmapped = operations.compactMap { operation -> ObjectId? in
            if case .unmap(let mapping) = operation { return mapping.bufferId }
            return nil
        }
        return GpuWork(payload: payload, resourceIds: [], waitSemaphores: waits, signalSemaphores: signals,
                       waitTimelinePoints: timelineWaits, signalTimelinePoints: timelineSignals,
                       bindAdmission: { [weak self] in self?.admitBind(unmapping: unmapped) ?? false },
                       onComplete: { [weak self] status in self?.bindCompleted(operations, ranges: ranges, cost: cost, status: status) })
    }

    /// The judgement at execution: an unmap of a buffer that submitted work still lists as a
    /// resource (`inflight`) is BAD_STATE, which fails the connection. False once the
    /// connection is closed.
    private func admitBind(unmapping bufferIds: [ObjectId]) -> Bool {
        var admitted = false
        perform { state throws(MagmaError) in
            if let busy = bufferIds.first(where: { (state.buffers[$0]?.inflight ?? 0) > 0 }) {
                throw .badState("a bind unmapped buffer \(busy) while in-flight work uses it")
            }
            admitted = true
        }
        return admitted
    }

    /// The bind has run (or was abandoned): its holds and queued ranges go. A bind that did not
    /// run fails the connection, as other work does (a refusal at admission already has).
    private func bindCompleted(_ operations: [MsdBindOperation], ranges: [QueuedBindRange], cost: UInt64, status: MagmaStatus) {
        state.withLock { state in
            guard !state.closed else { return }
            state.pendingBytes -= cost
            for operation in operations {
                switch operation {
                case .map(let mapping), .unmap(let mapping): state.buffers[mapping.bufferId]?.bindHolds -= 1
                }
            }
            for range in ranges {
                if let index = state.queuedBindRanges.firstIndex(of: range) { state.queuedBindRanges.remove(at: index) }
            }
            try? charge(&state)   // giving back never fails
        }
        if status != .ok { fail(MagmaError(status, "a bind did not run: its context was destroyed")) }
    }
}
