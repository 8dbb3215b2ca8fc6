import MagmaProtocol

/// One submission to a queue (Mesa's `MagmaSubmitInfo`): the commands to run, the sync object
/// points it waits for before it starts, and those it signals when it completes.
public struct SubmitInfo: Sendable {
    /// Where a submission's commands are.
    public enum Commands: Sendable {
        /// `length` bytes of a command stream in `buffer` from `offset` (Mesa's
        /// `magma_submit_buffer_info`). The buffer need not be mapped in the address space.
        case buffer(DeviceBuffer, offset: UInt64, length: UInt64)
        /// `length` bytes of a command stream at `address` in the queue's address space (Mesa's
        /// `magma_submit_address_space_info`), read by the device through its MMU when the work
        /// runs: a range not mapped readable there faults and closes the address space
        /// (CONTEXT_KILLED).
        case gpuAddress(UInt64, length: UInt64)
    }

    /// The commands to run.
    public var commands: Commands
    /// Points the work waits for; it starts once every one is reached (a binary sync object
    /// signaled, a timeline's value at or above its point), and consumes (resets) each binary
    /// one.
    public var waits: [SyncObjectPoint]
    /// Points the work signals when it completes (a timeline's value is raised to its point).
    /// Work that fails signals none; its timelines record CONTEXT_KILLED, and waiters also
    /// learn of the failure from the address space's error.
    public var signals: [SyncObjectPoint]

    /// A submission of `commands` with the given wait and signal points.
    public init(commands: Commands, waits: [SyncObjectPoint], signals: [SyncObjectPoint] = []) {
        self.commands = commands
        self.waits = waits
        self.signals = signals
    }

    /// A submission of `commands` that waits for and signals binary sync objects.
    public init(commands: Commands, waitSyncObjects: [SyncObject] = [], signalSyncObjects: [SyncObject] = []) {
        self.init(commands: commands, waits: waitSyncObjects.map { $0.point() }, signals: signalSyncObjects.map { $0.point() })
    }

    /// The sync objects of `waits`.
    public var waitSyncObjects: [SyncObject] { waits.map(\.syncObject) }
    /// The sync objects of `signals`.
    public var signalSyncObjects: [SyncObject] { signals.map(\.syncObject) }

    /// A submission of the command stream in `length` bytes of `buffer` from `offset`, with the
    /// given binary waits and signals.
    public static func commandBuffer(_ buffer: DeviceBuffer, offset: UInt64 = 0, length: UInt64,
                                     waitSyncObjects: [SyncObject] = [], signalSyncObjects: [SyncObject] = []) -> SubmitInfo {
        SubmitInfo(commands: .buffer(buffer, offset: offset, length: length), waitSyncObjects: waitSyncObjects,
                   signalSyncObjects: signalSyncObjects)
    }
}
