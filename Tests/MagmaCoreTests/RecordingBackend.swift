import Magma
import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// A backend that records every call the core makes to it, in order, and answers as a test
/// tells it: ids from its own sequence (starting at 100, so they cannot be confused with a
/// core-side counter), an error to throw from the next call (synchronous), or a sticky error.
/// Its buffers are CPU-mappable unless made with `cpuMappable: false` (as device-local memory
/// of a kernel backend is not).
final class RecordingBackend: DeviceBackend, ConnectionBackend {
    private struct State {
        var calls: [String] = []
        var nextId: UInt64 = 100
        var nextContext: UInt32 = 7
        var throwNext: MagmaError?
        var sticky: MagmaError?
        var closes = 0
    }

    private let state = Locked(State())
    private let notifications: EventSemaphore
    private let cpuMappable: Bool

    init(cpuMappable: Bool = true) throws {
        notifications = try EventSemaphore()
        self.cpuMappable = cpuMappable
    }

    /// The calls so far, as "name(arguments)".
    var calls: [String] { state.withLock { $0.calls } }
    /// How many times `close()` was called.
    var closes: Int { state.withLock { $0.closes } }
    /// The next call throws `error` (and records itself first).
    func throwOnNextCall(_ error: MagmaError) { state.withLock { $0.throwNext = error } }
    /// The connection fails with `error`, as a feed-forward backend's system rejecting a request.
    func failSticky(_ error: MagmaError) {
        state.withLock { $0.sticky = error }
        notifications.signal()
    }

    private func record(_ call: String) throws(MagmaError) {
        let pending: MagmaError? = state.withLock { state in
            state.calls.append(call)
            defer { state.throwNext = nil }
            return state.throwNext
        }
        if let pending { throw pending }
    }

    private func takeId() -> UInt64 { state.withLock { state in defer { state.nextId += 1 }; return state.nextId } }

    // MARK: DeviceBackend

    func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer {
        try record("query(\(id.rawValue))")
        return .value(id.rawValue + 1)
    }

    func connect() throws(MagmaError) -> any ConnectionBackend {
        try record("connect")
        return self
    }

    func physicalDeviceInfo() throws(MagmaError) -> PhysicalDeviceInfo {
        try record("physicalDeviceInfo")
        return PhysicalDeviceInfo(vendorId: 1, deviceId: 2, driverVersion: 3, name: "recorded", driverName: "recording",
                                  limits: DeviceLimits(addressSpaceSize: 1 << 40, pageSize: 4096, maxAllocationSize: 1 << 30),
                                  memoryProperties: MemoryProperties(types: [MemoryType(propertyFlags: [.hostVisible], heapIndex: 0)],
                                                                     heaps: [MemoryHeap(size: 1 << 30, flags: [])]),
                                  queueFamilies: [QueueFamily(flags: [.transfer], count: 2)])
    }

    func performanceCounterToken() throws(MagmaError) -> OwnedFileDescriptor {
        try record("performanceCounterToken")
        throw .accessDenied("no counters here")
    }

    // MARK: Buffers

    func createBuffer(size: UInt64, memoryType: UInt32, name: String) throws(MagmaError) -> any BackendBuffer {
        try record("createBuffer(\(size),\(memoryType),\(name))")
        return try RecordedBuffer(id: takeId(), size: size, cpuMappable: cpuMappable)
    }

    func importBuffer(_ handle: OwnedFileDescriptor, memoryType: UInt32) throws(MagmaError) -> any BackendBuffer {
        try record(memoryType == 0 ? "importBuffer" : "importBuffer(memoryType:\(memoryType))")
        return try RecordedBuffer(id: takeId(), size: 4096, cpuMappable: cpuMappable)
    }

    func release(_ buffer: any BackendBuffer) throws(MagmaError) { try record("releaseBuffer(\(buffer.id))") }

    func perform(_ op: BufferRangeOp, on buffer: any BackendBuffer, offset: UInt64, length: UInt64) throws(MagmaError) {
        try record("perform(\(op.rawValue),\(buffer.id),\(offset),\(length))")
    }

    // MARK: Sync objects

    func createSemaphore() throws(MagmaError) -> any BackendSemaphore {
        try record("createSemaphore")
        return try RecordedSemaphore(id: takeId())
    }

    func importSemaphore(_ handle: OwnedFileDescriptor, flags: ImportSemaphoreFlags) throws(MagmaError) -> any BackendSemaphore {
        try record("importSemaphore(\(flags.rawValue))")
        return try RecordedSemaphore(id: takeId())
    }

    func release(_ semaphore: any BackendSemaphore) throws(MagmaError) { try record("releaseSemaphore(\(semaphore.id))") }

    func createTimeline(initialValue: UInt64) throws(MagmaError) -> any BackendTimeline {
        try record("createTimeline(\(initialValue))")
        return try RecordedTimeline(id: takeId(), initialValue: initialValue)
    }

    func importTimeline(_ handle: OwnedFileDescriptor) throws(MagmaError) -> any BackendTimeline {
        try record("importTimeline")
        return try RecordedTimeline(id: takeId(), initialValue: 0)
    }

    func release(_ timeline: any BackendTimeline) throws(MagmaError) { try record("releaseTimeline(\(timeline.id))") }

    // MARK: Contexts, address space, submissions

    func createContext(queueFamily: UInt32, priority: Priority) throws(MagmaError) -> UInt32 {
        try record(queueFamily == 0 ? "createContext(\(priority.rawValue))" : "createContext(\(priority.rawValue),family:\(queueFamily))")
        return state.withLock { state in defer { state.nextContext += 1 }; return state.nextContext }
    }

    func destroyContext(_ id: UInt32) throws(MagmaError) { try record("destroyContext(\(id))") }

    func map(_ buffer: any BackendBuffer, at gpuAddress: UInt64, offset: UInt64, length: UInt64, flags: MapFlags) throws(MagmaError) {
        try record("map(\(buffer.id),\(gpuAddress),\(offset),\(length),\(flags.rawValue))")
    }

    func unmap(_ buffer: any BackendBuffer, at gpuAddress: UInt64) throws(MagmaError) {
        try record("unmap(\(buffer.id),\(gpuAddress))")
    }

    func execute(contextId: UInt32, _ descriptor: CommandDescriptor) throws(MagmaError) {
        let points = { (list: [TimelinePoint]) in "[" + list.map { "\($0.timelineId):\($0.value)" }.joined(separator: ",") + "]" }
        let timelines = descriptor.waitTimelinePoints.isEmpty && descriptor.signalTimelinePoints.isEmpty ? ""
            : ",timelines:\(points(descriptor.waitTimelinePoints)),\(points(descriptor.signalTimelinePoints))"
        try record("execute(\(contextId),wait:\(descriptor.waitSemaphores),signal:\(descriptor.signalSemaphores)\(timelines))")
    }

    func execute(contextId: UInt32, _ command: GpuAddressCommand) throws(MagmaError) {
        try record("executeAt(\(contextId),\(command.gpuAddress),\(command.length),wait:\(command.waitSemaphores),signal:\(command.signalSemaphores))")
    }

    func bind(contextId: UInt32, _ submission: BindSubmission) throws(MagmaError) {
        try record("bind(\(contextId),\(submission.operations.count),wait:\(submission.waitSemaphores),signal:\(submission.signalSemaphores))")
    }

    func memoryBudget(heap: UInt32) throws(MagmaError) -> MemoryBudget {
        try record("memoryBudget(\(heap))")
        return MemoryBudget(budget: 1000 + UInt64(heap), usage: UInt64(heap))
    }

    func executeInline(contextId: UInt32, _ commands: [InlineCommand]) throws(MagmaError) {
        try record("executeInline(\(contextId),\(commands.count))")
    }

    // MARK: Performance counters

    func enablePerformanceCounterAccess(token: OwnedFileDescriptor) throws(MagmaError) { try record("enablePerformanceCounterAccess") }
    func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool {
        try record("isPerformanceCounterAccessAllowed")
        return false
    }
    func enablePerformanceCounters(_ counters: [UInt64]) throws(MagmaError) { try record("enablePerformanceCounters(\(counters))") }
    func clearPerformanceCounters(_ counters: [UInt64]) throws(MagmaError) { try record("clearPerformanceCounters(\(counters))") }
    func createPerformanceCounterPool() throws(MagmaError) -> any BackendPerformanceCounterPool {
        try record("createPerformanceCounterPool")
        return try RecordedPool(id: takeId())
    }
    func release(_ pool: any BackendPerformanceCounterPool) throws(MagmaError) { try record("releasePool(\(pool.id))") }
    func addPerformanceCounterRanges(_ ranges: [BufferRange], to pool: any BackendPerformanceCounterPool) throws(MagmaError) {
        try record("addRanges(\(pool.id),\(ranges.map(\.bufferId)))")
    }
    func removePerformanceCounterBuffer(_ buffer: any BackendBuffer, from pool: any BackendPerformanceCounterPool) throws(MagmaError) {
        try record("removeBuffer(\(pool.id),\(buffer.id))")
    }
    func dumpPerformanceCounters(into pool: any BackendPerformanceCounterPool, triggerId: UInt32) throws(MagmaError) {
        try record("dump(\(pool.id),\(triggerId))")
    }

    // MARK: Errors and lifetime

    func flush() -> MagmaError? {
        state.withLock { state in
            state.calls.append("flush")
            return state.sticky
        }
    }

    var error: MagmaError? { state.withLock { $0.sticky } }
    /// The notification eventfd doubles as the failure descriptor: `failSticky` signals it.
    var failureDescriptor: FileDescriptor { notifications.descriptor.fileDescriptor }
    var notificationDescriptor: FileDescriptor { notifications.descriptor.fileDescriptor }
    var notificationChannelError: MagmaError? { error }
    func readNotification() throws(MagmaError) -> [UInt8]? {
        try record("readNotification")
        return nil
    }
    func close() { state.withLock { $0.closes += 1 } }
}

/// A buffer of the recording backend: shared memory the CPU maps, or (not `cpuMappable`) memory
/// it refuses to map, as a device-local buffer. Counts the CPU mappings asked for.
final class RecordedBuffer: BackendBuffer {
    let id: ObjectId
    let size: UInt64
    private let memory: SharedMemory
    private let cpuMappable: Bool
    private let mappings = Locked(0)

    init(id: ObjectId, size: UInt64, cpuMappable: Bool) throws(MagmaError) {
        self.id = id
        self.size = size
        self.cpuMappable = cpuMappable
        do { memory = try SharedMemory.create(size: Int(size), name: "recorded") } catch { throw .memoryError("\(error)") }
    }

    /// How many times the core asked for the CPU mapping.
    var cpuMappingRequests: Int { mappings.withLock { $0 } }

    var committedByteCount: UInt64 { size }
    func cpuMapping() throws(MagmaError) -> UnsafeMutableRawBufferPointer {
        mappings.withLock { $0 += 1 }
        guard cpuMappable else { throw .invalidArgs("buffer \(id) is device-local: the CPU cannot map it") }
        return UnsafeMutableRawBufferPointer(start: memory.base, count: memory.size)
    }
    func export() throws(MagmaError) -> OwnedFileDescriptor { throw .unimplemented("recorded buffers are not exported") }
}

/// A semaphore of the recording backend: an eventfd, so `Poll` can wait on it.
final class RecordedSemaphore: BackendSemaphore {
    let id: ObjectId
    private let event: EventSemaphore

    init(id: ObjectId) throws(MagmaError) {
        self.id = id
        do { event = try EventSemaphore() } catch { throw .memoryError("\(error)") }
    }

    var isOneShot: Bool { false }
    var isSignaled: Bool { event.isSignaled }
    func signal() { event.signal() }
    func reset() { event.reset() }
    func export() throws(MagmaError) -> OwnedFileDescriptor {
        do { return try event.descriptor.duplicate() } catch { throw .memoryError("\(error)") }
    }
    var pollDescriptor: FileDescriptor { event.descriptor.fileDescriptor }
}

/// A pool of the recording backend: never completes.
final class RecordedPool: BackendPerformanceCounterPool {
    let id: UInt64
    private let events: EventSemaphore

    init(id: UInt64) throws(MagmaError) {
        self.id = id
        do { events = try EventSemaphore() } catch { throw .memoryError("\(error)") }
    }

    var eventDescriptor: FileDescriptor { events.descriptor.fileDescriptor }
    func nextCompletion() throws(MagmaError) -> PerformanceCounterCompletion? { nil }
}

/// A timeline over the platform's shared page, recording nothing of its own.
final class RecordedTimeline: BackendTimeline {
    let id: ObjectId
    private let timeline: Timeline

    init(id: ObjectId, initialValue: UInt64) throws(MagmaError) {
        self.id = id
        do { timeline = try Timeline.create(initialValue: initialValue) } catch { throw .memoryError("\(error)") }
    }

    var value: UInt64 { timeline.value }
    var failure: MagmaError? { timeline.failure }
    func signal(to point: UInt64) throws(MagmaError) { try timeline.signalPoint(point) }
    func export() throws(MagmaError) -> OwnedFileDescriptor {
        do { return try timeline.descriptor.duplicate() } catch { throw .memoryError("\(error)") }
    }
    func watch(for point: UInt64) throws(MagmaError) -> any BackendTimelineWatch {
        do { return RecordedWatch(try TimelineWatch(timeline, for: point)) } catch { throw .memoryError("\(error)") }
    }

    /// Records the timeline's failure, as a driver does when work that was to signal it fails.
    func fail() { timeline.fail(.contextKilled) }
}

final class RecordedWatch: BackendTimelineWatch {
    let watch: TimelineWatch
    init(_ watch: TimelineWatch) { self.watch = watch }
    var pollDescriptor: FileDescriptor { watch.descriptor }
}
