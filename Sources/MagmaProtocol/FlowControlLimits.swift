/// Flow-control limits a device publishes through `QueryId.maximumInflightParams`: the system
/// enforces them, a client of another process counts against them.
public struct FlowControlLimits: Sendable, Equatable {
    /// Messages a client may have sent but not seen consumed.
    public var maxInflightMessages: UInt32
    /// Megabytes of imported memory a client may have in flight.
    public var maxInflightMegabytes: UInt32

    /// Fuchsia's defaults: 1000 messages, 100 MB.
    public static let standard = FlowControlLimits(maxInflightMessages: 1000, maxInflightMegabytes: 100)

    /// Limits of `maxInflightMessages` messages and `maxInflightMegabytes` megabytes.
    public init(maxInflightMessages: UInt32, maxInflightMegabytes: UInt32) {
        self.maxInflightMessages = maxInflightMessages
        self.maxInflightMegabytes = maxInflightMegabytes
    }

    /// The limits packed in a query value (messages in the upper 32 bits, megabytes in the lower).
    public init(queryValue: UInt64) {
        self.init(maxInflightMessages: UInt32(queryValue >> 32), maxInflightMegabytes: UInt32(truncatingIfNeeded: queryValue))
    }

    /// The packed query value: messages in the upper 32 bits, megabytes in the lower.
    public var queryValue: UInt64 { UInt64(maxInflightMessages) << 32 | UInt64(maxInflightMegabytes) }
}
