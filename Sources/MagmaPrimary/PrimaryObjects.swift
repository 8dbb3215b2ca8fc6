import Magma
import MagmaPlatform
import MagmaProtocol

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

    func export() throws(MagmaError) -> OwnedFileDescriptor {
        do { return try memory.descriptor.duplicate() } catch { throw .memoryError("\(error)") }
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

    var pollDescriptor: Int32 { event.descriptor.rawValue }
}

/// A performance-counter pool of the Fuchsia-protocol backends: its id and its event source.
final class PrimaryPerformanceCounterPool: BackendPerformanceCounterPool {
    let id: UInt64
    let source: any PerformanceCounterEventSource

    init(id: UInt64, source: any PerformanceCounterEventSource) {
        self.id = id
        self.source = source
    }

    var eventDescriptor: Int32 { source.descriptor }
    func nextCompletion() throws(MagmaError) -> PerformanceCounterCompletion? { try source.next() }
}
