/// A range of a buffer named by id: a command's resource, a perf-counter slot.
public struct BufferRange: Hashable, Sendable {
    public var bufferId: ObjectId
    public var offset: UInt64
    public var length: UInt64
    public init(bufferId: ObjectId, offset: UInt64, length: UInt64) {
        self.bufferId = bufferId
        self.offset = offset
        self.length = length
    }
}

/// Where a command buffer starts: which resource, and the byte offset inside it.
public struct CommandBufferEntry: Hashable, Sendable {
    public var resourceIndex: UInt32
    public var startOffset: UInt64
    public init(resourceIndex: UInt32, startOffset: UInt64) {
        self.resourceIndex = resourceIndex
        self.startOffset = startOffset
    }
}

/// One submission: resources it uses, command buffers to run in order, semaphores to wait on
/// before it starts (reset once all have signaled) and to signal when it completes.
public struct CommandDescriptor: Hashable, Sendable {
    public var resources: [BufferRange]
    public var commandBuffers: [CommandBufferEntry]
    public var waitSemaphores: [ObjectId]
    public var signalSemaphores: [ObjectId]
    /// Driver-defined bits live at and above `vendorFlags0`.
    public var flags: UInt64

    /// The first vendor command-buffer flag.
    public static let vendorFlags0: UInt64 = 1 << 16

    public init(resources: [BufferRange], commandBuffers: [CommandBufferEntry],
                waitSemaphores: [ObjectId] = [], signalSemaphores: [ObjectId] = [], flags: UInt64 = 0) {
        self.resources = resources
        self.commandBuffers = commandBuffers
        self.waitSemaphores = waitSemaphores
        self.signalSemaphores = signalSemaphores
        self.flags = flags
    }
}

/// A small command passed inline in the message instead of through a buffer. Its semaphores
/// are interpreted by the driver (SoftGPU signals them when the command completes).
public struct InlineCommand: Hashable, Sendable {
    public var data: [UInt8]
    public var semaphores: [ObjectId]
    public init(data: [UInt8], semaphores: [ObjectId] = []) {
        self.data = data
        self.semaphores = semaphores
    }
}
