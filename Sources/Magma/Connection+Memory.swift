import MagmaPlatform
import MagmaProtocol

/// Memory types and heap budgets, queue families, and submission by GPU address.
extension Connection {
    /// Creates a zeroed buffer of at least `size` bytes (rounded up to whole pages) of memory
    /// type `memoryType` (an index into `Device.memoryProperties().types`). The allocation
    /// counts against the type's heap; past the heap's budget it is MEMORY_ERROR, and an
    /// unknown type INVALID_ARGS, both thrown here with the connection still usable. A buffer
    /// of a type without HOST_VISIBLE has no CPU mapping (`bytes` and `contents` throw).
    public func createBuffer(size: UInt64, memoryType: UInt32, name: String = "") throws(MagmaError) -> Buffer {
        try checkOpen()
        guard size > 0 else { throw .invalidArgs("buffer size 0") }
        let buffer = Buffer(backend: try backend.createBuffer(size: size, memoryType: memoryType, name: name), owner: key)
        if !name.isEmpty { buffer.setName(name) }
        return buffer
    }

    /// Imports a buffer exported elsewhere as memory of type `memoryType`, with
    /// `createBuffer(size:memoryType:name:)`'s errors; takes ownership of `descriptor`. What it
    /// accepts is as `importBuffer(_:)` says.
    public func importBuffer(_ descriptor: OwnedFileDescriptor, memoryType: UInt32) throws(MagmaError) -> Buffer {
        try checkOpen()
        return Buffer(backend: try backend.importBuffer(descriptor, memoryType: memoryType), owner: key)
    }

    /// A buffer of memory type `memoryType` whose memory IS `memory`, already mapped in this
    /// process (a view of a guest's pages, `SharedMemory.Kind.guestPages`): the device maps and
    /// uses those pages in place. Only a device in this process (the embedded backend) can;
    /// other backends throw UNIMPLEMENTED. The buffer holds `memory` until it is released (and
    /// work or mappings that use it are done); it cannot be exported (INVALID_ARGS), so no
    /// other connection can reach it, and COMMIT and DECOMMIT do not apply. Memory errors are
    /// `createBuffer(size:memoryType:name:)`'s.
    public func adoptBuffer(_ memory: SharedMemory, memoryType: UInt32 = 0) throws(MagmaError) -> Buffer {
        try checkOpen()
        return Buffer(backend: try backend.adoptBuffer(memory, memoryType: memoryType), owner: key)
    }

    /// Heap `heap` as this connection sees it: `usage`, the bytes its buffers hold there, and
    /// `budget`, the most it may hold now (its usage plus what the heap has free, device-wide).
    /// INVALID_ARGS for an unknown heap.
    public func memoryBudget(heap: UInt32) throws(MagmaError) -> MemoryBudget {
        try checkOpen()
        return try backend.memoryBudget(heap: heap)
    }

    /// Creates a context of queue family `queueFamily` (an index into `Device.queueFamilies()`;
    /// an unknown one is INVALID_ARGS, more contexts than the family's count MEMORY_ERROR, both
    /// closing the connection as any rejected request). Priorities above `.medium` need a
    /// trusted client.
    public func createContext(queueFamily: UInt32, priority: Priority = .medium) throws(MagmaError) -> Context {
        try checkOpen()
        let id = try backend.createContext(queueFamily: queueFamily, priority: priority)
        return Context(id: id, priority: priority, queueFamily: queueFamily, owner: key)
    }

    /// Submits the command stream at `command.gpuAddress` (`command.length` bytes of the
    /// connection's address space) on `context`: it starts once every wait semaphore has
    /// signaled and every wait timeline point is reached, and signals its signal semaphores and
    /// timeline points on completion (work that fails fails its signal timelines instead). The device reads the stream
    /// through its MMU when the work runs; a range not mapped readable faults and closes the
    /// connection (CONTEXT_KILLED), as any bad access.
    public func execute(on context: Context, _ command: GpuAddressCommand) throws(MagmaError) {
        try checkOpen()
        try context.ownership.check(key)
        guard command.length > 0 else { throw .invalidArgs("command stream of zero length") }
        try backend.execute(contextId: context.id, command)
    }
}
