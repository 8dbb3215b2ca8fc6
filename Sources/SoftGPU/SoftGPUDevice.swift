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

    /// The memory heaps: each heap's size is the budget MagmaSystem holds its allocations to,
    /// device-wide.
    public var memoryHeaps: [MemoryHeap]
    /// The memory types; each names a heap of `memoryHeaps`.
    public var memoryTypes: [MemoryType]

    /// Two-second watchdog, one compute thread per online CPU, 5 ms time slices, and the
    /// default memory (`defaultMemoryHeaps`, `defaultMemoryTypes`).
    public init(watchdogNanoseconds: UInt64 = 2_000_000_000, computeThreads: Int = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                timeSliceNanoseconds: UInt64 = 5_000_000,
                memoryHeaps: [MemoryHeap] = SoftGPUConfiguration.defaultMemoryHeaps,
                memoryTypes: [MemoryType] = SoftGPUConfiguration.defaultMemoryTypes) {
        self.watchdogNanoseconds = watchdogNanoseconds
        self.computeThreads = max(1, computeThreads)
        self.timeSliceNanoseconds = max(1, timeSliceNanoseconds)
        self.memoryHeaps = memoryHeaps
        self.memoryTypes = memoryTypes
    }

    /// One device-local heap: SoftGPU's memory is the host's, sparse memfds whose pages are
    /// allocated on first touch, so the heap is sized as address space is, not as RAM: the
    /// host's physical memory, and at least 64 GiB.
    public static var defaultMemoryHeaps: [MemoryHeap] {
        let physical = UInt64(max(0, sysconf(Int32(_SC_PHYS_PAGES)))) * UInt64(max(1, sysconf(Int32(_SC_PAGESIZE))))
        return [MemoryHeap(size: max(physical, 64 << 30), flags: .deviceLocal)]
    }

    /// Type 0: memory the CPU maps too (device-local, host-visible, coherent, cached);
    /// type 1: GPU-only memory, which the client cannot map.
    public static let defaultMemoryTypes: [MemoryType] = [
        MemoryType(propertyFlags: [.deviceLocal, .hostVisible, .hostCoherent, .hostCached], heapIndex: 0),
        MemoryType(propertyFlags: [.deviceLocal], heapIndex: 0),
    ]
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

    /// The device's name.
    public static let name = "SoftGPU"
    /// The driver's name.
    public static let driverName = "softgpu"
    /// GPU virtual address space per connection: 48 bits.
    public static let addressSpaceSize: UInt64 = 1 << 48

    /// The queue families: 0 runs everything (compute dispatches, fills, copies, timestamps);
    /// 1 runs transfers only (fills, copies, timestamps), and its engine refuses a dispatch as
    /// an illegal command; 2 is the bind queue (sparse binding only): it runs binds and no
    /// commands. Counts are contexts per connection.
    public static let queueFamilies: [QueueFamily] = [
        QueueFamily(flags: [.compute, .transfer], count: 256),
        QueueFamily(flags: [.transfer], count: 16),
        QueueFamily(flags: [.sparseBinding], count: 4),
    ]
    /// The index of the compute family.
    public static let computeFamily: UInt32 = 0
    /// The index of the transfer-only family.
    public static let transferFamily: UInt32 = 1
    /// The index of the bind family.
    public static let bindFamily: UInt32 = 2

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

    /// What the device is and offers; its memory is the configuration's.
    let info: PhysicalDeviceInfo

    init(configuration: SoftGPUConfiguration) throws(MagmaError) {
        let memory = MemoryProperties(types: configuration.memoryTypes, heaps: configuration.memoryHeaps)
        try memory.validate()
        info = PhysicalDeviceInfo(
            vendorId: UInt32(SoftGPUIdentity.vendorId), deviceId: UInt32(SoftGPUIdentity.deviceId),
            driverVersion: UInt32(SoftGPUIdentity.vendorVersion), name: SoftGPUIdentity.name, driverName: SoftGPUIdentity.driverName,
            limits: DeviceLimits(addressSpaceSize: SoftGPUIdentity.addressSpaceSize, pageSize: UInt64(SharedMemory.pageSize),
                                 maxAllocationSize: configuration.memoryHeaps.map(\.size).max() ?? 0),
            memoryProperties: memory, queueFamilies: SoftGPUIdentity.queueFamilies)
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
