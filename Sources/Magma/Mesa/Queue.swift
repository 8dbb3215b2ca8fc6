import MagmaProtocol

/// How a queue stands (Mesa's `check_status`).
public enum QueueStatus: Hashable, Sendable {
    /// Its work runs.
    case ok
    /// Its address space's work failed (a GPU fault, an illegal command, a watchdog kill, work
    /// abandoned with a released queue) and its address space was closed: no more work runs.
    case contextKilled
    /// Its device stopped answering in time.
    case timedOut
}

/// A queue of GPU work in an address space (Mesa's `MagmaQueue`): a context of the address
/// space's connection, with a priority. Work on one queue runs in order; queues of one
/// address space share its mappings.
public final class Queue: Sendable {
    /// The address space its work runs in.
    public let addressSpace: AddressSpace
    let context: Context

    init(addressSpace: AddressSpace, context: Context) {
        self.addressSpace = addressSpace
        self.context = context
    }

    /// Its scheduling priority.
    public var priority: Priority { context.priority }

    /// Its queue family (an index into the physical device's `queueFamilies`).
    public var family: UInt32 { context.queueFamily }

    /// Submits work. Everything it names must be the queue's device's: a command buffer (its
    /// range inside the buffer, not empty) or a GPU range (not empty, not past the end of the
    /// address space, the device's `limits.addressSpaceSize`), and the sync objects, with a point of 0 for each binary one;
    /// INVALID_ARGS otherwise, and nothing is submitted. Work from a command buffer holds every
    /// buffer mapped in the address space now as a resource (in flight until it completes);
    /// work at a GPU address names no buffers, so nothing is held for it (unmapping what it
    /// reads makes it fault). Feed-forward: what the device rejects later (a dispatch on a
    /// transfer queue, a fault) closes the address space; `checkStatus()` and waits on the sync
    /// objects report it.
    public func submit(_ info: SubmitInfo) throws(MagmaError) {
        let space = addressSpace
        let device = space.device
        try space.connection.checkOpen()
        guard try familyProperties.runsCommands else {
            throw .invalidArgs("a queue of family \(family) runs binds only, not commands")
        }
        try Self.check(info.waits + info.signals, of: device)
        switch info.commands {
        case .buffer(let commandBuffer, let offset, let length):
            try device.checkOwns(commandBuffer.device, "command buffer")
            guard length > 0 else { throw .invalidArgs("command buffer range of 0 bytes") }
            let (end, overflow) = offset.addingReportingOverflow(length)
            guard !overflow, end <= commandBuffer.size else {
                throw .invalidArgs("command buffer range \(offset)+\(length) passes the end of a buffer of \(commandBuffer.size) bytes")
            }
            let commands = try commandBuffer.instance(in: space)
            let (waits, signals) = try (SyncList(info.waits, in: space), SyncList(info.signals, in: space))
            let resources = [BufferRange(bufferId: commands.id, offset: offset, length: length)]
                + space.mappedBuffers.filter { $0 !== commands }.map { BufferRange(bufferId: $0.id, offset: 0, length: $0.size) }
            try space.connection.execute(on: context, CommandDescriptor(
                resources: resources, commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)],
                waitSemaphores: waits.semaphores, signalSemaphores: signals.semaphores,
                waitTimelinePoints: waits.timelinePoints, signalTimelinePoints: signals.timelinePoints))
        case .gpuAddress(let address, let length):
            guard length > 0 else { throw .invalidArgs("command stream of 0 bytes") }
            let (end, overflow) = address.addingReportingOverflow(length)
            let size = device.physicalDevice.info.limits.addressSpaceSize
            guard !overflow, end <= size else {
                throw .invalidArgs("command stream at \(address) of \(length) bytes passes the end of the address space (\(size) bytes)")
            }
            let (waits, signals) = try (SyncList(info.waits, in: space), SyncList(info.signals, in: space))
            try space.connection.execute(on: context, GpuAddressCommand(
                gpuAddress: address, length: length, waitSemaphores: waits.semaphores, signalSemaphores: signals.semaphores,
                waitTimelinePoints: waits.timelinePoints, signalTimelinePoints: signals.timelinePoints))
        }
    }

    /// Queues a bind (VM_BIND style) on a queue of a family that runs binds (sparse binding;
    /// SoftGPU's family 2): `binds` change the address space in order once every wait point is
    /// reached, and the signal points fire once all have taken effect; binds on one queue run in
    /// order. Work ordered after the signal sees the new mappings; work that runs before the
    /// bind sees the address space as it was.
    ///
    /// Checked here, with INVALID_ARGS and nothing changed: the queue's family, an empty list or
    /// more than `BindSubmission.maxOperations`, the sync objects (as `submit`), and each
    /// operation against the address space as it will be once the binds queued before and the
    /// earlier operations of this one have run (what `map` and `unmap` refuse). From then on the
    /// address space's own `map` and `unmap` see that planned state. What the device refuses when
    /// the bind runs (an unmap of a buffer that in-flight work holds: every submission from a
    /// command buffer holds every buffer mapped when it was submitted) closes the address space
    /// with BAD_STATE, and the bind's signal timelines fail.
    public func bind(_ binds: [AddressSpace.Bind], waits: [SyncObjectPoint] = [], signals: [SyncObjectPoint] = []) throws(MagmaError) {
        let space = addressSpace
        try space.connection.checkOpen()
        guard try familyProperties.runsBinds else { throw .invalidArgs("a queue of family \(family) runs no binds") }
        guard !binds.isEmpty else { throw .invalidArgs("bind without operations") }
        guard binds.count <= BindSubmission.maxOperations else {
            throw .invalidArgs("bind of \(binds.count) operations; \(BindSubmission.maxOperations) is the most")
        }
        try Self.check(waits + signals, of: space.device)
        let (waitList, signalList) = try (SyncList(waits, in: space), SyncList(signals, in: space))
        let operations = try space.plan(binds)
        try space.connection.bind(on: context, operations, waitSemaphores: waitList.semaphores, signalSemaphores: signalList.semaphores,
                                  waitTimelinePoints: waitList.timelinePoints, signalTimelinePoints: signalList.timelinePoints)
    }

    /// INVALID_ARGS unless every point names a sync object of `device`, with a point its kind
    /// takes (0 for a binary one).
    private static func check(_ points: [SyncObjectPoint], of device: LogicalDevice) throws(MagmaError) {
        for point in points {
            try device.checkOwns(point.syncObject.device, "sync object")
            try point.syncObject.check(point: point.value)
        }
    }

    /// What the queue's family runs.
    private var familyProperties: QueueFamily {
        get throws(MagmaError) { try addressSpace.device.physicalDevice.info.queueFamily(family) }
    }

    /// How the queue stands, from its address space's error as known now (no round trip):
    /// `.ok` while healthy, `.contextKilled` or `.timedOut` after such a failure. Any other
    /// error of the address space is thrown: BAD_STATE once it or the queue's device was
    /// released, CONNECTION_LOST when magmad is gone.
    public func checkStatus() throws(MagmaError) -> QueueStatus {
        guard let error = addressSpace.connection.error else { return .ok }
        switch error.status {
        case .contextKilled: return .contextKilled
        case .timedOut: return .timedOut
        default: throw error
        }
    }

    /// Releases the queue. Work still queued on it is abandoned: it never signals its sync
    /// objects, so the address space closes with CONTEXT_KILLED. A second release is
    /// INVALID_ARGS.
    public func release() throws(MagmaError) {
        try addressSpace.connection.release(context)
    }
}

/// A submission's wait or signal points as ids in one address space's connection: binary sync
/// objects' semaphores and timelines' points, each imported there on first use.
private struct SyncList {
    var semaphores: [ObjectId] = []
    var timelinePoints: [TimelinePoint] = []

    init(_ points: [SyncObjectPoint], in space: AddressSpace) throws(MagmaError) {
        for point in points {
            switch try point.syncObject.instance(in: space) {
            case .binary(let semaphore): semaphores.append(semaphore.id)
            case .timeline(let timeline): timelinePoints.append(timeline.point(point.value))
            }
        }
    }
}
