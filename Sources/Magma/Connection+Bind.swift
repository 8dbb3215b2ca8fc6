import MagmaProtocol

/// The asynchronous bind queue (VM_BIND style) on the Fuchsia face.
extension Connection {
    /// Queues a bind on `context`, a context of a queue family that runs binds (one with
    /// `sparseBinding` only: SoftGPU's `bindFamily`): `operations` (`BindOperation.map(...)`,
    /// `.unmap(...)`) change the connection's GPU address space in order, once every wait
    /// semaphore has signaled (they are then reset) and every wait timeline point is reached;
    /// the signal semaphores and timeline points fire once all of them have taken effect. Binds
    /// on one context run in order. A compute submission ordered after the bind's signal sees
    /// the new mappings; work that runs before the bind sees the address space as it was.
    ///
    /// An empty list or more than `BindSubmission.maxOperations` is INVALID_ARGS here, with the
    /// connection still usable. Everything else is checked by the device when the bind
    /// arrives, against the address space as it will be once the binds queued before have run
    /// (docs/architecture.md, "The bind queue"), and a refusal fails the connection (sticky, as
    /// for `map`): a context that runs no binds, an unknown buffer, semaphore or timeline,
    /// misalignment, a range past the buffer or the address space, a map overlapping a
    /// mapping, an unmap splitting one (all INVALID_ARGS), a range a bind queued on another
    /// context changes (BAD_STATE). An unmap of a buffer that in-flight work lists is BAD_STATE
    /// when the bind runs. UNIMPLEMENTED on MagmaDRM.
    public func bind(on context: Context, _ operations: [BindOperation], waitSemaphores: [ObjectId] = [],
                     signalSemaphores: [ObjectId] = [], waitTimelinePoints: [TimelinePoint] = [],
                     signalTimelinePoints: [TimelinePoint] = []) throws(MagmaError) {
        try checkOpen()
        try context.ownership.check(key)
        guard !operations.isEmpty else { throw .invalidArgs("bind without operations") }
        guard operations.count <= BindSubmission.maxOperations else {
            throw .invalidArgs("bind of \(operations.count) operations; \(BindSubmission.maxOperations) is the most")
        }
        try backend.bind(contextId: context.id, BindSubmission(
            operations: operations, waitSemaphores: waitSemaphores, signalSemaphores: signalSemaphores,
            waitTimelinePoints: waitTimelinePoints, signalTimelinePoints: signalTimelinePoints))
    }
}
