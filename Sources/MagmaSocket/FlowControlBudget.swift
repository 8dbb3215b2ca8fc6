/// The client's side of flow control, as Fuchsia's client counts it: messages sent and bytes
/// of memory imported that the server has not yet reported consumed.
struct FlowControlBudget: Equatable {
    /// Messages that may be in flight.
    let maxMessages: UInt64
    /// Bytes of imported memory that may be in flight.
    let maxBytes: UInt64
    private(set) var inflightMessages: UInt64 = 0
    private(set) var inflightBytes: UInt64 = 0

    init(maxMessages: UInt64, maxBytes: UInt64) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    /// Whether a message importing `newBytes` must wait for the server. Below half the byte
    /// budget a message is always sent, so one import larger than the budget still goes.
    func mustWait(forBytes newBytes: UInt64) -> Bool {
        if inflightMessages + 1 > maxMessages { return true }
        if newBytes > 0, inflightBytes < maxBytes / 2 { return false }
        return newBytes > 0 && inflightBytes + newBytes > maxBytes
    }

    /// Counts a sent message.
    mutating func sent(importing bytes: UInt64) {
        inflightMessages += 1
        inflightBytes += bytes
    }

    /// The server reported `count` messages handled.
    mutating func messagesConsumed(_ count: UInt64) { inflightMessages -= min(count, inflightMessages) }

    /// The server reported `bytes` of memory imported.
    mutating func memoryImported(_ bytes: UInt64) { inflightBytes -= min(bytes, inflightBytes) }
}
