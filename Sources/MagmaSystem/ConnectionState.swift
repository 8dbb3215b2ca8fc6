import MagmaPlatform
import MagmaProtocol

/// A buffer imported into a connection.
struct BufferEntry {
    let memory: SharedMemory
    /// The driver's buffer, released when the last import is.
    let buffer: any MsdBuffer
    /// Imports of this id not yet released.
    var imports: Int
    /// Submitted work that lists this buffer as a resource and has not completed.
    var inflight: Int
    /// The memory heap its bytes count against (its memory type's).
    var heap = 0
    /// Operations of queued binds, not yet run, that map or unmap this buffer.
    var bindHolds = 0

    /// Whether work not yet completed uses it: submitted work lists it, or a queued bind
    /// changes one of its mappings. It may not be unmapped, depopulated or released then.
    var isHeld: Bool { inflight > 0 || bindHolds > 0 }
}

/// The GPU range one operation of a queued bind changes, and the bind context it waits on.
struct QueuedBindRange: Equatable {
    let context: UInt32
    let range: Range<UInt64>
}

/// Everything one connection owns, guarded by the connection's lock.
struct ConnectionState {
    var error: MagmaError?
    var closed = false
    var buffers: [ObjectId: BufferEntry] = [:]
    /// The driver's semaphores, by client id.
    var semaphores: [ObjectId: any MsdSemaphore] = [:]
    var contexts: [UInt32: any MsdContext] = [:]
    /// The queue family of each context, by context id.
    var contextFamilies: [UInt32: UInt32] = [:]
    /// The driver's timelines, by client id.
    var timelines: [ObjectId: any MsdTimeline] = [:]
    /// The address space as it will be once every queued bind has run (binds are validated
    /// against it and change it when they arrive); the driver's page tables follow as they run.
    var mappings = MappingTable()
    /// The GPU range of every operation of a queued bind not yet run, with its context: where
    /// the driver's page tables and `mappings` still differ.
    var queuedBindRanges: [QueuedBindRange] = []
    /// Bytes of distinct buffer memory imported.
    var importedBytes: UInt64 = 0
    var performanceCounterAccess = false
    var counterPools: [UInt64: PerformanceCounterPoolEntry] = [:]

    /// Daemon memory held by submitted work not yet completed (`GpuWork.pendingCost(of:signals:)`).
    var pendingBytes: UInt64 = 0

    /// What is charged to the client's `ResourceAccount` for this connection.
    var charged = ResourceAccount.Usage()

    /// Objects held: buffers, semaphores, timelines, contexts, mappings and counter pools.
    var objectCount: Int { buffers.count + semaphores.count + timelines.count + contexts.count + mappings.count + counterPools.count }

    /// Descriptors held: each buffer, semaphore, timeline and counter pool holds one.
    var descriptorCount: Int { buffers.count + semaphores.count + timelines.count + counterPools.count }

    /// What the connection holds now, as its account counts it.
    var usage: ResourceAccount.Usage {
        ResourceAccount.Usage(descriptors: descriptorCount, importedBytes: importedBytes, pendingBytes: pendingBytes)
    }

    /// MEMORY_ERROR if one more object, or `bytes` more imported memory, would pass `limits`.
    func checkRoom(for bytes: UInt64 = 0, within limits: ConnectionLimits) throws(MagmaError) {
        guard objectCount < limits.maxObjects else { throw .memoryError("connection holds \(objectCount) objects, the limit") }
        guard importedBytes + bytes <= limits.maxImportedBytes else {
            throw .memoryError("importing \(bytes) bytes passes the connection's limit of \(limits.maxImportedBytes)")
        }
    }

    /// Counts `cost` more bytes of pending work; MEMORY_ERROR past `limits.maxPendingBytes`.
    mutating func takePending(_ cost: UInt64, within limits: ConnectionLimits) throws(MagmaError) {
        guard pendingBytes + cost <= limits.maxPendingBytes else {
            throw .memoryError("pending work would hold \(pendingBytes + cost) bytes; \(limits.maxPendingBytes) is the connection's limit")
        }
        pendingBytes += cost
    }

    /// BAD_STATE if `range` meets the range of an operation of a queued bind (of any context
    /// but `allowed`, whose order keeps them apart): the page tables there are yet to change.
    func checkNoQueuedBind(_ range: Range<UInt64>, except allowed: UInt32? = nil) throws(MagmaError) {
        guard !queuedBindRanges.contains(where: { $0.context != allowed && $0.range.overlaps(range) }) else {
            throw .badState("gpu range 0x\(String(range.lowerBound, radix: 16))..<0x\(String(range.upperBound, radix: 16)) has a bind queued on another context")
        }
    }

    func buffer(_ id: ObjectId) throws(MagmaError) -> BufferEntry {
        guard let entry = buffers[id] else { throw .invalidArgs("unknown buffer id \(id)") }
        return entry
    }

    func semaphore(_ id: ObjectId) throws(MagmaError) -> any MsdSemaphore {
        guard let semaphore = semaphores[id] else { throw .invalidArgs("unknown semaphore id \(id)") }
        return semaphore
    }

    /// The point `point` names, of a timeline imported here.
    func timelinePoint(_ point: TimelinePoint) throws(MagmaError) -> MsdTimelinePoint {
        guard let timeline = timelines[point.timelineId] else { throw .invalidArgs("unknown timeline id \(point.timelineId)") }
        return MsdTimelinePoint(timeline: timeline, value: point.value)
    }

    func counterPool(_ id: UInt64) throws(MagmaError) -> PerformanceCounterPoolEntry {
        guard let entry = counterPools[id] else { throw .invalidArgs("unknown performance-counter pool \(id)") }
        return entry
    }

    func context(_ id: UInt32) throws(MagmaError) -> any MsdContext {
        guard let context = contexts[id] else { throw .invalidArgs("unknown context id \(id)") }
        return context
    }
}

extension MapFlags {
    /// INVALID_ARGS unless the flags grant some access and name no unknown bit (vendor bits
    /// pass): what a map and a bind's map accept.
    static func checkForMapping(_ flags: MapFlags) throws(MagmaError) {
        guard !flags.intersection([.read, .write, .execute]).isEmpty else { throw .invalidArgs("map flags grant no access") }
        let vendorBits = ~UInt64(0) << UInt64(MapFlags.vendorShift)
        guard flags.rawValue & ~(MapFlags.known.rawValue | vendorBits) == 0 else {
            throw .invalidArgs("unknown map flags \(flags.rawValue)")
        }
    }
}

/// Range checks shared by every request that names part of a buffer or the address space.
enum RangeCheck {
    /// GPU virtual addresses are 48 bits wide.
    static let addressSpaceEnd: UInt64 = 1 << 48

    static var pageMask: UInt64 { UInt64(SharedMemory.pageSize - 1) }

    /// `offset + length`, or INVALID_ARGS if it overflows or passes `limit`.
    static func end(offset: UInt64, length: UInt64, within limit: UInt64, _ what: @autoclosure () -> String) throws(MagmaError) -> UInt64 {
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= limit else {
            throw .invalidArgs("\(what()): offset \(offset) + length \(length) exceeds \(limit)")
        }
        return end
    }

    static func pageAligned(_ value: UInt64, _ what: @autoclosure () -> String) throws(MagmaError) {
        guard value & pageMask == 0 else { throw .invalidArgs("\(what()) \(value) is not page aligned") }
    }
}
