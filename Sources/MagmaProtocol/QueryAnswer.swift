import MagmaPlatform

/// What a device query returns, at every layer (driver, system, backend, client): a number, or
/// bytes in a buffer.
public enum QueryAnswer: Sendable {
    /// A number.
    case value(UInt64)
    /// Bytes in a buffer; read them at `memory.base`.
    case buffer(SharedMemory)
}
