import MagmaProtocol

/// The server's side of flow control on one connection: counts the messages it has handled and
/// the bytes it has imported, and says when to tell the client (once half a limit is reached).
struct ServerFlowControl {
    let limits: FlowControlLimits
    private(set) var enabled = false
    private var messages: UInt64 = 0
    private var bytes: UInt64 = 0

    init(limits: FlowControlLimits) { self.limits = limits }

    /// The client asked for consumed events; counting starts now.
    mutating func enable() { enabled = true }

    /// Records one handled message that imported `importedBytes`. Returns the counts to report,
    /// if a report is due.
    mutating func handled(importedBytes: UInt64) -> (messages: UInt64?, bytes: UInt64?) {
        guard enabled else { return (nil, nil) }
        messages += 1
        bytes += importedBytes
        var report: (messages: UInt64?, bytes: UInt64?) = (nil, nil)
        if messages >= max(1, UInt64(limits.maxInflightMessages) / 2) {
            report.messages = messages
            messages = 0
        }
        if bytes > 0, bytes >= max(1, UInt64(limits.maxInflightMegabytes) << 20 / 2) {
            report.bytes = bytes
            bytes = 0
        }
        return report
    }
}
