import MagmaProtocol
import MagmaSystem

extension Engine {
    /// Runs bind work on the engine thread, so no other work runs meanwhile: asks MagmaSystem
    /// to admit it (`GpuWork.admitBind`; a refusal has already failed the connection), then
    /// changes the connection's address space operation by operation, in order, then
    /// notifies and completes the work, which signals its semaphores and timeline points.
    /// A refused bind changes nothing and completes with BAD_STATE, failing its signal
    /// timelines with it.
    func applyBind(_ operations: [MsdBindOperation], of job: Job) {
        let connection = job.context.connection
        guard job.work.admitBind() else {
            job.work.finish(.badState)
            return
        }
        for operation in operations {
            switch operation {
            case .map(let mapping): connection.space.map(mapping)
            case .unmap(let mapping): connection.space.unmap(mapping)
            }
        }
        // A connection released meanwhile has emptied its space before or after these
        // changes: after, if it is still seen live here; if not, empty it again.
        if !connection.isLive { connection.space.removeAll() }
        connection.notify(.completed(sequence: job.sequence, status: MagmaStatus.ok.rawValue, gpuNanoseconds: 0))
        job.work.finish(.ok)
    }
}
