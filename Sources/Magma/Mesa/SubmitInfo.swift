import MagmaProtocol

/// One submission to a queue (Mesa's `MagmaSubmitInfo`): the commands to run, the sync objects
/// it waits for before it starts, and those it signals when it completes.
public struct SubmitInfo: Sendable {
    /// Where a submission's commands are.
    public enum Commands: Sendable {
        /// `length` bytes of a command stream in `buffer` from `offset` (Mesa's
        /// `magma_submit_buffer_info`). The buffer need not be mapped in the address space.
        case buffer(DeviceBuffer, offset: UInt64, length: UInt64)
    }

    /// The commands to run.
    public var commands: Commands
    /// Sync objects the work waits for; it starts once all are signaled, and consumes (resets)
    /// each binary one.
    public var waitSyncObjects: [SyncObject]
    /// Sync objects the work signals when it completes. Work that fails signals none; waiters
    /// learn of the failure from the address space's error.
    public var signalSyncObjects: [SyncObject]

    /// A submission of `commands` with the given waits and signals.
    public init(commands: Commands, waitSyncObjects: [SyncObject] = [], signalSyncObjects: [SyncObject] = []) {
        self.commands = commands
        self.waitSyncObjects = waitSyncObjects
        self.signalSyncObjects = signalSyncObjects
    }

    /// A submission of the command stream in `length` bytes of `buffer` from `offset`, with the
    /// given waits and signals.
    public static func commandBuffer(_ buffer: DeviceBuffer, offset: UInt64 = 0, length: UInt64,
                                     waitSyncObjects: [SyncObject] = [], signalSyncObjects: [SyncObject] = []) -> SubmitInfo {
        SubmitInfo(commands: .buffer(buffer, offset: offset, length: length), waitSyncObjects: waitSyncObjects,
                   signalSyncObjects: signalSyncObjects)
    }
}
