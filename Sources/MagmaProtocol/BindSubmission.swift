/// One submission to an asynchronous bind queue (xe's and panthor's VM_BIND): an ordered list
/// of operations on the connection's GPU address space, with wait and signal lists as
/// `CommandDescriptor` has. The operations take effect in order once every wait semaphore has
/// signaled and every wait timeline point is reached; the signals fire once all of them have
/// taken effect. docs/architecture.md ("The bind queue") says what is checked when.
public struct BindSubmission: Hashable, Sendable {
    /// The most operations one submission may carry (the wire's bound too).
    public static let maxOperations = 512

    /// The operations, applied in order; at least one, at most `maxOperations`.
    public var operations: [BindOperation]
    /// Semaphores to wait on before the operations take effect (reset once all have signaled).
    public var waitSemaphores: [ObjectId]
    /// Semaphores to signal once every operation has taken effect.
    public var signalSemaphores: [ObjectId]
    /// Timeline points to wait for before the operations take effect.
    public var waitTimelinePoints: [TimelinePoint]
    /// Timeline points to signal once every operation has taken effect; a bind that fails
    /// records its error on their timelines instead.
    public var signalTimelinePoints: [TimelinePoint]

    public init(operations: [BindOperation], waitSemaphores: [ObjectId] = [], signalSemaphores: [ObjectId] = [],
                waitTimelinePoints: [TimelinePoint] = [], signalTimelinePoints: [TimelinePoint] = []) {
        self.operations = operations
        self.waitSemaphores = waitSemaphores
        self.signalSemaphores = signalSemaphores
        self.waitTimelinePoints = waitTimelinePoints
        self.signalTimelinePoints = signalTimelinePoints
    }
}

extension BindOperation {
    /// Maps `length` bytes of buffer `bufferId` from `offset` at `gpuAddress` with `flags`.
    public static func map(bufferId: ObjectId, offset: UInt64 = 0, length: UInt64, at gpuAddress: UInt64, flags: MapFlags) -> BindOperation {
        BindOperation(kind: .map, bufferId: bufferId, offset: offset, length: length, gpuAddress: gpuAddress, flags: flags)
    }

    /// Unmaps every mapping that lies inside `gpuAddress ..< gpuAddress + length`.
    public static func unmap(at gpuAddress: UInt64, length: UInt64) -> BindOperation {
        BindOperation(kind: .unmap, bufferId: 0, offset: 0, length: length, gpuAddress: gpuAddress, flags: [])
    }
}

extension QueueFamily {
    /// Whether its contexts run binds (it has `sparseBinding`).
    public var runsBinds: Bool { flags.contains(.sparseBinding) }

    /// Whether its contexts run command submissions (graphics, compute or transfer work); a
    /// family with `sparseBinding` only runs binds and nothing else.
    public var runsCommands: Bool { !flags.intersection([.graphics, .compute, .transfer]).isEmpty }
}
