import MagmaPlatform
import MagmaProtocol

/// Linux sync_files: a semaphore's fence as a descriptor any driver's syncobjs and dma-bufs
/// accept (Fuchsia's Magma has none; this is the Linux face of a semaphore). Only a backend
/// whose semaphores hold kernel fences has them (`hasSyncFiles`: MagmaDRM); elsewhere both
/// calls are UNIMPLEMENTED.
extension Connection {
    /// Whether this connection's semaphores export and import sync_files.
    public var hasSyncFiles: Bool { backend.hasSyncFiles }

    /// Replaces `semaphore`'s fence with the sync_file's: it is signaled once that fence is,
    /// for every holder of the semaphore. `syncFile` stays the caller's. A semaphore of another
    /// connection or one released is INVALID_ARGS, and so is a descriptor that is no sync_file
    /// (the semaphore keeps its fence); UNIMPLEMENTED without `hasSyncFiles`.
    public func importSyncFile(_ syncFile: OwnedFileDescriptor, into semaphore: Semaphore) throws(MagmaError) {
        try semaphore.ownership.check(key)
        try checkOpen()
        try backend.importSyncFile(syncFile, into: semaphore.backend)
    }
}

extension Semaphore {
    /// A new sync_file of the semaphore's current fence, a snapshot later signals and resets do
    /// not change; the caller owns it. BAD_STATE while it holds no fence (never signaled, or
    /// reset: nothing to export), or once its connection is gone; INVALID_ARGS once released;
    /// UNIMPLEMENTED without `Connection.hasSyncFiles`.
    public func exportSyncFile() throws(MagmaError) -> OwnedFileDescriptor {
        guard let connection else { throw .badState("semaphore \(id): its connection is gone") }
        try ownership.check(connection.key)
        try connection.checkOpen()
        return try connection.backend.exportSyncFile(of: backend)
    }
}
