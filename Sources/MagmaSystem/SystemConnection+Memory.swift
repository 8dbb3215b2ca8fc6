import MagmaPlatform
import MagmaProtocol

/// The synchronous memory calls and the GPU-address submission: what the Mesa lineage adds to a
/// connection (memory types with heap budgets, submission by address).
extension SystemConnection {
    /// Imports buffer memory under a client-chosen id as memory of type `memoryType`,
    /// synchronously: an allocation the device refuses (an unknown memory type: INVALID_ARGS;
    /// past the device's largest allocation or the heap's budget: MEMORY_ERROR) throws and
    /// leaves the connection as it was; any other error fails the connection (as the
    /// feed-forward import does) and throws the connection's error (BAD_STATE once closed).
    public func importBuffer(id: ObjectId, memory: SharedMemory, memoryType: UInt32) throws(MagmaError) {
        if let refusal = admitBuffer(id: id, memory: memory, memoryType: memoryType) { throw refusal }
        try state.withLock { state throws(MagmaError) in
            if let error = state.error { throw error }
            guard !state.closed else { throw .badState("connection was released") }
        }
    }

    /// Heap `heap` as this connection sees it: the bytes its buffers hold there, and the most
    /// it may hold now (that usage plus what the heap has free, device-wide). INVALID_ARGS for
    /// an unknown heap; the connection's error once it has failed.
    public func memoryBudget(heap: UInt32) throws(MagmaError) -> MemoryBudget {
        try state.withLock { [device] state throws(MagmaError) in
            if let error = state.error { throw error }
            guard !state.closed else { throw .badState("connection was released") }
            let sizes = device.heaps.sizes
            guard Int(heap) < sizes.count else { throw .invalidArgs("heap \(heap): the device has \(sizes.count)") }
            let usage = state.buffers.values.reduce(UInt64(0)) { $0 + ($1.heap == Int(heap) ? UInt64($1.memory.size) : 0) }
            let free = sizes[Int(heap)] - device.heaps.inUse(Int(heap))
            return MemoryBudget(budget: usage + free, usage: usage)
        }
    }

    /// Submits the command stream at `command.gpuAddress` (`command.length` bytes, nonzero, in
    /// the address space) on a context, with its wait and signal lists; every semaphore and
    /// timeline must be known. The driver reads the stream through the connection's address space when the
    /// work runs, so what is mapped there is checked then (a fault), not here.
    public func executeCommand(contextId: UInt32, at command: GpuAddressCommand) {
        perform { [limits] state throws(MagmaError) in
            let context = try commandContext(contextId, state)
            guard command.length > 0 else { throw .invalidArgs("command stream of zero length") }
            _ = try RangeCheck.end(offset: command.gpuAddress, length: command.length, within: RangeCheck.addressSpaceEnd, "command stream")
            let waits = try command.waitSemaphores.map { id throws(MagmaError) in try state.semaphore(id) }
            let signals = try command.signalSemaphores.map { id throws(MagmaError) in try state.semaphore(id) }
            let timelineWaits = try command.waitTimelinePoints.map { point throws(MagmaError) in try state.timelinePoint(point) }
            let timelineSignals = try command.signalTimelinePoints.map { point throws(MagmaError) in try state.timelinePoint(point) }
            let payload = GpuWork.Payload.commandStream(gpuAddress: command.gpuAddress, length: command.length, flags: command.flags)
            let listed = signals.count + timelineWaits.count + timelineSignals.count
            try state.takePending(GpuWork.pendingCost(of: payload, signals: listed), within: limits)
            context.submit(makeWork(payload, waits: waits, signals: signals, timelineWaits: timelineWaits, timelineSignals: timelineSignals))
        }
    }
}
