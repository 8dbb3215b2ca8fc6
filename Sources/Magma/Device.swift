import MagmaPlatform
import MagmaProtocol

/// An opened GPU device: answers queries and creates connections.
public final class Device: Sendable {
    let backend: any DeviceBackend

    /// A device served by `backend`. Programs open devices by locator (`Device.open` in
    /// MagmaDevices); a backend module, or a test with a backend of its own, calls this.
    public init(backend: any DeviceBackend) {
        self.backend = backend
    }

    /// Answers a query: a value or a buffer, as the query defines.
    public func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer {
        try backend.query(id)
    }

    /// Answers a query that returns a value; INVALID_ARGS for one that returns a buffer.
    public func queryValue(_ id: QueryId) throws(MagmaError) -> UInt64 {
        guard case .value(let value) = try query(id) else { throw .invalidArgs("query \(id) returns a buffer") }
        return value
    }

    /// The GPU time the device has spent busy, sampled with the monotonic clock.
    public func totalTime() throws(MagmaError) -> TotalTimeQueryResult {
        guard case .buffer(let memory) = try query(.totalTime) else { throw .invalidArgs("total-time returned a value") }
        guard memory.size >= TotalTimeQueryResult.byteCount else { throw .internalError("total-time buffer too small") }
        return TotalTimeQueryResult(
            gpuTimeNanoseconds: UInt64(littleEndian: memory.base.loadUnaligned(as: UInt64.self)),
            monotonicTimeNanoseconds: UInt64(littleEndian: memory.base.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    /// The token that grants performance-counter access to a connection
    /// (`Connection.enablePerformanceCounterAccess`); no connection has access without it. For
    /// an in-process device it is the device's own token. For magmad it comes from the device's
    /// performance-counter endpoint, which only allowed users can open: ACCESS_DENIED otherwise.
    public func performanceCounterToken() throws(MagmaError) -> OwnedFileDescriptor {
        try backend.performanceCounterToken()
    }

    /// Opens a connection: a private GPU address space with its own objects.
    public func createConnection() throws(MagmaError) -> Connection {
        Connection(backend: try backend.connect())
    }
}
