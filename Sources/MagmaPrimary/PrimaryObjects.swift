import Magma
import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// A buffer of the Fuchsia-protocol backends: a size-sealed memfd, mapped shared into this
/// process when made, exported as a duplicate of the memfd. `cpuMapping` gives that mapping
/// for a buffer of a host-visible memory type, and throws for GPU-only memory.
final class MemfdBuffer: BackendBuffer {
    let id: ObjectId
    let memory: SharedMemory
    /// Whether its memory type is HOST_VISIBLE.
    let hostVisible: Bool

    init(id: ObjectId, memory: SharedMemory, hostVisible: Bool = true) {
        self.id = id
        self.memory = memory
        self.hostVisible = hostVisible
    }

    var size: UInt64 { UInt64(memory.size) }
    var committedByteCount: UInt64 { UInt64(memory.committedBytes) }

    func cpuMapping() throws(MagmaError) -> UnsafeMutableRawBufferPointer {
        guard hostVisible else { throw .invalidArgs("buffer \(id) is of a memory type the CPU cannot map (not host-visible)") }
        return UnsafeMutableRawBufferPointer(start: memory.base, count: memory.size)
    }

    /// A duplicate of the memfd or dma-buf; guest pages adopted in place have no descriptor to
    /// give (INVALID_ARGS): they never leave the connection that adopted them.
    func export() throws(MagmaError) -> OwnedFileDescriptor {
        guard let descriptor = memory.descriptor else {
            throw .invalidArgs("buffer \(id) is \(memory.kind) memory of this process: it has no descriptor to export")
        }
        do { return try descriptor.duplicate() } catch { throw .memoryError("\(error)") }
    }
}

/// A semaphore of the Fuchsia-protocol backends: an eventfd, exported as a duplicate of it.
final class EventfdSemaphore: BackendSemaphore {
    let id: ObjectId
    let event: EventSemaphore
    let isOneShot: Bool

    init(id: ObjectId, event: EventSemaphore, oneShot: Bool) {
        self.id = id
        self.event = event
        isOneShot = oneShot
    }

    var isSignaled: Bool { event.isSignaled }
    func signal() { event.signal() }
    func reset() { if !isOneShot { event.reset() } }

    func export() throws(MagmaError) -> OwnedFileDescriptor {
        do { return try event.descriptor.duplicate() } catch { throw .memoryError("\(error)") }
    }

    var pollDescriptor: FileDescriptor { event.descriptor.fileDescriptor }
}

/// A performance-counter pool of the Fuchsia-protocol backends: its id and its event source.
final class PrimaryPerformanceCounterPool: BackendPerformanceCounterPool {
    let id: UInt64
    let source: any PerformanceCounterEventSource

    init(id: UInt64, source: any PerformanceCounterEventSource) {
        self.id = id
        self.source = source
    }

    var eventDescriptor: FileDescriptor { source.descriptor }
    func nextCompletion() throws(MagmaError) -> PerformanceCounterCompletion? { try source.next() }
}

/// A timeline of the Fuchsia-protocol backends: a shared page (`Timeline`) that the client,
/// the system driver and every other holder map, exported as a duplicate of its memfd.
final class MemfdTimeline: BackendTimeline {
    let id: ObjectId
    let timeline: Timeline

    init(id: ObjectId, timeline: Timeline) {
        self.id = id
        self.timeline = timeline
    }

    var value: UInt64 { timeline.value }
    var failure: MagmaError? { timeline.failure }
    func signal(to point: UInt64) throws(MagmaError) { try timeline.signalPoint(point) }

    func export() throws(MagmaError) -> OwnedFileDescriptor {
        do { return try timeline.descriptor.duplicate() } catch { throw .memoryError("\(error)") }
    }

    func watch(for point: UInt64) throws(MagmaError) -> any BackendTimelineWatch {
        do { return PlatformTimelineWatch(try TimelineWatch(timeline, for: point)) } catch { throw .memoryError("\(error)") }
    }
}

/// A `TimelineWatch` as the backend protocol's watch.
final class PlatformTimelineWatch: BackendTimelineWatch {
    let watch: TimelineWatch
    init(_ watch: TimelineWatch) { self.watch = watch }
    var pollDescriptor: FileDescriptor { watch.descriptor }
}
