import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import SoftGPU

/// Where a device is.
public enum DeviceLocator: Sendable {
    /// The process-wide embedded device: MagmaSystem and SoftGPU in this process. Needs nothing
    /// installed and no daemon. Every `open(.embedded)` reaches the same device, as every
    /// process on a machine reaches the same GPU.
    case embedded
    /// A new in-process device served by `driver` (for tests and custom drivers).
    case inProcess(any MsdDriver)
    /// A device served by magmad, reached through its endpoint socket (for example
    /// `$XDG_RUNTIME_DIR/magma/gpu/000`).
    case socket(String)
    /// A device reached through a transport of the caller's.
    case transport(any DeviceTransport)
}

/// An opened GPU device: answers queries and creates connections.
public final class Device: Sendable {
    private let transport: any DeviceTransport

    private static let embeddedDevice = Locked<InProcessDeviceTransport?>(nil)

    private init(transport: any DeviceTransport) {
        self.transport = transport
    }

    /// Opens the device at `locator`.
    public static func open(_ locator: DeviceLocator) throws(MagmaError) -> Device {
        switch locator {
        case .embedded:
            return Device(transport: try embeddedDevice.withLock { (shared) throws(MagmaError) -> InProcessDeviceTransport in
                if let existing = shared { return existing }
                let created = InProcessDeviceTransport(system: try SystemDevice(driver: SoftGPUDriver()))
                shared = created
                return created
            })
        case .inProcess(let driver):
            return Device(transport: InProcessDeviceTransport(system: try SystemDevice(driver: driver)))
        case .socket(let path):
            return Device(transport: try SocketDeviceTransport(path: path))
        case .transport(let transport):
            return Device(transport: transport)
        }
    }

    /// Answers a query: a value or a buffer, as the query defines.
    public func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer {
        try transport.query(id)
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
        try transport.performanceCounterToken()
    }

    /// Opens a connection: a private GPU address space with its own objects.
    public func createConnection() throws(MagmaError) -> Connection {
        Connection(transport: try transport.connect())
    }
}
