/// Why GPU work stopped before completing.
public enum ExecutionFault: Error, Equatable, Sendable, CustomStringConvertible {
    /// A memory access faulted in the MMU.
    case memory(GpuFault)
    /// The watchdog stopped work that ran past its time limit.
    case watchdog(limitNanoseconds: UInt64)
    /// A malformed program or command.
    case illegal(String)

    public var description: String {
        switch self {
        case .memory(let fault): "\(fault)"
        case .watchdog(let limit): "watchdog: work ran longer than \(limit / 1_000_000) ms"
        case .illegal(let reason): "illegal command: \(reason)"
        }
    }
}
