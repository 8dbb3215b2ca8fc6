extension QueryId: CustomStringConvertible {
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
