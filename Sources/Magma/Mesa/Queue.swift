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

    /// Submits work. Everything it names must be the queue's device's: the command buffer (its
    /// range inside the buffer, not empty) and the sync objects; INVALID_ARGS otherwise, and
    /// nothing is submitted. Every buffer mapped in the address space now is a resource of the
    /// work (in flight until it completes). Feed-forward: what the device rejects later closes
    /// the address space; `checkStatus()` and waits on the sync objects report it.
    public func submit(_ info: SubmitInfo) throws(MagmaError) {
        let space = addressSpace
        let device = space.device
        try space.connection.checkOpen()
        let (commandBuffer, offset, length) = switch info.commands {
        case .buffer(let buffer, let offset, let length): (buffer, offset, length)
        }
        try device.checkOwns(commandBuffer.device, "command buffer")
        guard length > 0 else { throw .invalidArgs("command buffer range of 0 bytes") }
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= commandBuffer.size else {
            throw .invalidArgs("command buffer range \(offset)+\(length) passes the end of a buffer of \(commandBuffer.size) bytes")
        }
        for object in info.waitSyncObjects + info.signalSyncObjects {
            try device.checkOwns(object.device, "sync object")
            try object.instances.checkLive()
        }
        let commands = try commandBuffer.instance(in: space)
        let waits = try info.waitSyncObjects.map { (object) throws(MagmaError) in try object.semaphore(in: space).id }
        let signals = try info.signalSyncObjects.map { (object) throws(MagmaError) in try object.semaphore(in: space).id }
        let resources = [BufferRange(bufferId: commands.id, offset: offset, length: length)]
            + space.mappedBuffers.filter { $0 !== commands }.map { BufferRange(bufferId: $0.id, offset: 0, length: $0.size) }
        try space.connection.execute(on: context, CommandDescriptor(
            resources: resources, commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)],
            waitSemaphores: waits, signalSemaphores: signals))
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
