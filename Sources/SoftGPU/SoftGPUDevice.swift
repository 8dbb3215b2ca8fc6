import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaSystem

/// Settings of a SoftGPU device.
public struct SoftGPUConfiguration: Sendable {
    /// Work running longer than this is stopped and its connection closed.
    public var watchdogNanoseconds: UInt64
    /// Threads a compute dispatch may use.
    public var computeThreads: Int
    /// How long work runs before the engine switches to another context's work of the same
    /// priority, if any waits.
    public var timeSliceNanoseconds: UInt64

    /// Two-second watchdog, one compute thread per online CPU, 5 ms time slices.
    public init(watchdogNanoseconds: UInt64 = 2_000_000_000, computeThreads: Int = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                timeSliceNanoseconds: UInt64 = 5_000_000) {
        self.watchdogNanoseconds = watchdogNanoseconds
        self.computeThreads = max(1, computeThreads)
        self.timeSliceNanoseconds = max(1, timeSliceNanoseconds)
    }
}

/// The SoftGPU system driver.
public struct SoftGPUDriver: MsdDriver {
    public let configuration: SoftGPUConfiguration

    public init(configuration: SoftGPUConfiguration = SoftGPUConfiguration()) {
        self.configuration = configuration
    }

    public func createDevice() throws(MagmaError) -> any MsdDevice {
        try SoftGPUDevice(configuration: configuration)
    }
}

/// SoftGPU's identity and vendor queries.
public enum SoftGPUIdentity {
    /// Vendor id (unregistered, in the Khronos vendor-id range above PCI ids).
    public static let vendorId: UInt64 = 0x10F00
    /// Device id.
    public static let deviceId: UInt64 = 0x0001
    /// Driver version: major << 16 | minor.
    public static let vendorVersion: UInt64 = 1 << 16

    /// Vendor query: lanes per wave.
    public static let queryWaveWidth = QueryId(rawValue: QueryId.vendorParam0.rawValue + 0)
    /// Vendor query: compute threads.
    public static let queryComputeThreads = QueryId(rawValue: QueryId.vendorParam0.rawValue + 1)
    /// Vendor query: maximum workgroup size.
    public static let queryMaxWorkgroupSize = QueryId(rawValue: QueryId.vendorParam0.rawValue + 2)
    /// Vendor query: watchdog limit in milliseconds.
    public static let queryWatchdogMilliseconds = QueryId(rawValue: QueryId.vendorParam0.rawValue + 3)
}

final class SoftGPUDevice: MsdDevice {
    let engine: Engine
    /// Waits for the semaphores of the device's submissions.
    let waiter: SemaphoreWaiter
    /// The device-wide counters every connection's dumps read.
    let counters: SoftGPUPerformanceCounters
    /// The buffers, semaphores and timelines imported and not yet released.
    let imported = ImportedObjects()

    init(configuration: SoftGPUConfiguration) throws(MagmaError) {
        engine = Engine(configuration: configuration)
        do { waiter = try SemaphoreWaiter(engine: engine) } catch { throw .memoryError("\(error)") }
        counters = SoftGPUPerformanceCounters(engine: engine)
    }

    func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer {
        switch id {
        case .vendorId: return .value(SoftGPUIdentity.vendorId)
        case .deviceId: return .value(SoftGPUIdentity.deviceId)
        case .vendorVersion: return .value(SoftGPUIdentity.vendorVersion)
        case .isTotalTimeSupported: return .value(1)
        case .totalTime:
            let memory: SharedMemory
            do { memory = try SharedMemory.create(size: TotalTimeQueryResult.byteCount, name: "magma-total-time") }
            catch { throw .memoryError("\(error)") }
            memory.base.storeBytes(of: engine.busyNanoseconds.littleEndian, as: UInt64.self)
            memory.base.storeBytes(of: Clock.monotonicNanoseconds().littleEndian, toByteOffset: 8, as: UInt64.self)
            return .buffer(memory)
        case SoftGPUIdentity.queryWaveWidth: return .value(UInt64(ISALimits.waveWidth))
        case SoftGPUIdentity.queryComputeThreads: return .value(UInt64(engine.configuration.computeThreads))
        case SoftGPUIdentity.queryMaxWorkgroupSize: return .value(UInt64(ISALimits.maxWorkgroupSize))
        case SoftGPUIdentity.queryWatchdogMilliseconds: return .value(engine.configuration.watchdogNanoseconds / 1_000_000)
        default: throw .invalidArgs("unknown query \(id)")
        }
    }

    func openConnection(clientId: UInt64, notifications: any MsdNotificationHandler) throws(MagmaError) -> any MsdConnection {
        SoftGPUConnection(engine: engine, waiter: waiter, counters: counters, notifications: notifications)
    }

    func importBuffer(memory: SharedMemory, id: ObjectId) throws(MagmaError) -> any MsdBuffer {
        SoftGPUBuffer(memory: memory, id: id, owner: imported)
    }

    func importSemaphore(event: EventSemaphore, id: ObjectId, flags: ImportSemaphoreFlags) throws(MagmaError) -> any MsdSemaphore {
        SoftGPUSemaphore(event: event, id: id, oneShot: flags.contains(.oneShot), owner: imported)
    }

    func importTimeline(_ timeline: Timeline, id: ObjectId) throws(MagmaError) -> any MsdTimeline {
        SoftGPUTimeline(timeline: timeline, id: id, owner: imported)
    }
}
