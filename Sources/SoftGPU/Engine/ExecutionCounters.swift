import Synchronization

/// What GPU work did, counted exactly: the performance counters' raw values.
struct ExecutionCounters: Sendable, Equatable {
    /// Wave instructions executed (one per instruction per wave, whatever the active lanes).
    var instructions: UInt64 = 0
    /// Bytes read from GPU memory: copy sources, and 4 per active lane of `ld` and `atomadd`.
    var bytesRead: UInt64 = 0
    /// Bytes written to GPU memory: fills, copy destinations, timestamps, and 4 per active lane
    /// of `st` and `atomadd`.
    var bytesWritten: UInt64 = 0

    static func += (total: inout ExecutionCounters, more: ExecutionCounters) {
        total.instructions &+= more.instructions
        total.bytesRead &+= more.bytesRead
        total.bytesWritten &+= more.bytesWritten
    }
}
