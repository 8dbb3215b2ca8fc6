import MagmaPlatform
import MagmaProtocol
import Synchronization

/// Receives what the system sends a client outside its requests.
public protocol NotificationSink: Sendable {
    /// Driver-defined bytes for the client's notification channel.
    func deliver(_ message: [UInt8])
    /// The connection was closed because of `error` (the epitaph). Called once.
    func connectionClosed(_ error: MagmaError)
}

/// The gpu-agnostic device: owns a driver device and opens validated connections to it.
public final class SystemDevice: Sendable {
    /// The driver's device.
    public let msd: any MsdDevice
    /// The published flow-control limits.
    public let limits: FlowControlLimits
    /// The token that grants performance-counter access: only its identity matters. Hand a
    /// duplicate of its descriptor only to clients allowed to read counters.
    public let performanceCounterToken: SharedMemory
    /// What the driver's device is and offers (`MsdDevice.info`).
    public let info: PhysicalDeviceInfo
    /// What each memory heap holds, device-wide.
    let heaps: HeapUsage
    /// `runsCommands` of each of `info`'s queue families, for the check every submission makes.
    private let familiesRunningCommands: [Bool]
    private let nextClientId = Atomic<UInt64>(1)

    /// Creates the device of `driver`.
    public init(driver: any MsdDriver, limits: FlowControlLimits = .standard) throws(MagmaError) {
        msd = try driver.createDevice()
        self.limits = limits
        info = msd.info
        try info.memoryProperties.validate()
        heaps = HeapUsage(heaps: info.memoryProperties.heaps)
        familiesRunningCommands = info.queueFamilies.map { $0.runsCommands }
        do {
            performanceCounterToken = try SharedMemory.create(size: 1, name: "magma-perf-token")
        } catch { throw .internalError("\(error)") }
    }

    /// Whether contexts of queue family `index` run command submissions
    /// (`info.queueFamily(index).runsCommands`, and its INVALID_ARGS for an index past the
    /// families), without copying the family out of `info`.
    func runsCommands(family index: UInt32) throws(MagmaError) -> Bool {
        guard Int(index) < familiesRunningCommands.count else { return try info.queueFamily(index).runsCommands }
        return familiesRunningCommands[Int(index)]
    }

    /// Answers a device query. `maximumInflightParams` comes from the system, the rest from
    /// the driver.
    public func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer {
        if id == .maximumInflightParams { return .value(limits.queryValue) }
        return try msd.query(id)
    }

    /// Opens a connection for one client. `sink` receives its notifications and epitaph. What
    /// the connection holds is also charged to `account`, shared by the client's connections.
    public func openConnection(trust: ClientTrust, limits: ConnectionLimits = .unlimited, account: ResourceAccount? = nil,
                               sink: any NotificationSink) throws(MagmaError) -> SystemConnection {
        let clientId = nextClientId.wrappingAdd(1, ordering: .relaxed).oldValue
        return try SystemConnection(device: self, clientId: clientId, trust: trust, limits: limits, account: account, sink: sink)
    }
}
