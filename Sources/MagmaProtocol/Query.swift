/// A device query id. The well-known ids have Fuchsia's values; drivers define their own from
/// `vendorParam0` up.
public struct QueryId: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// PCI vendor id, or a Khronos vendor id for devices without one.
    public static let vendorId = QueryId(rawValue: 0)
    /// Vendor-defined device id.
    public static let deviceId = QueryId(rawValue: 1)
    /// Vendor-defined driver/firmware version.
    public static let vendorVersion = QueryId(rawValue: 2)
    /// 1 if `totalTime` is supported.
    public static let isTotalTimeSupported = QueryId(rawValue: 3)
    /// Upper 32 bits: maximum messages in flight; lower 32 bits: maximum megabytes in flight.
    public static let maximumInflightParams = QueryId(rawValue: 5)
    /// Returns a buffer holding `TotalTimeQueryResult`.
    public static let totalTime = QueryId(rawValue: 500)
    /// The first id reserved for vendor queries.
    public static let vendorParam0 = QueryId(rawValue: 10_000)

    public var description: String {
        switch self {
        case .vendorId: "vendor-id"
        case .deviceId: "device-id"
        case .vendorVersion: "vendor-version"
        case .isTotalTimeSupported: "is-total-time-supported"
        case .maximumInflightParams: "maximum-inflight-params"
        case .totalTime: "total-time"
        default: rawValue >= QueryId.vendorParam0.rawValue ? "vendor-param-\(rawValue - QueryId.vendorParam0.rawValue)" : "query-\(rawValue)"
        }
    }
}

/// The layout of the `totalTime` query's buffer: two little-endian u64.
public struct TotalTimeQueryResult: Equatable, Sendable {
    /// Nanoseconds the GPU has spent busy since the device started.
    public var gpuTimeNanoseconds: UInt64
    /// CLOCK_MONOTONIC when the sample was taken.
    public var monotonicTimeNanoseconds: UInt64
    public init(gpuTimeNanoseconds: UInt64, monotonicTimeNanoseconds: UInt64) {
        self.gpuTimeNanoseconds = gpuTimeNanoseconds
        self.monotonicTimeNanoseconds = monotonicTimeNanoseconds
    }
    /// Size of the encoded result.
    public static let byteCount = 16
}
