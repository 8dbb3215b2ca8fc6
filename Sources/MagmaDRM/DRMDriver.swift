import MagmaProtocol

/// What differs between kernel drivers, behind one backend: how a buffer is made and mapped
/// (the per-driver ioctls), and command submission. MagmaDRM carries the drivers this project
/// can run against a real kernel (vgem, virtio_gpu, and dumb buffers for any KMS driver);
/// `DRMDrivers.driver(named:)` picks one by DRM_IOCTL_VERSION's name.
public protocol DRMDriver: Sendable {
    /// Whether connections open the device's primary (card) node instead of its render node:
    /// dumb buffers can be made only there.
    var opensCardNode: Bool { get }

    /// Makes a zeroed buffer object of at least `size` bytes in `file` and returns its GEM
    /// handle and size as the kernel rounded it. The caller closes the handle (GEM_CLOSE).
    func createBuffer(in file: DRMFile, size: UInt64) throws(MagmaError) -> (handle: UInt32, size: UInt64)

    /// The fake offset at which `file` maps the buffer object `handle` made in it
    /// (MAP_DUMB, VIRTGPU_MAP).
    func mapOffset(in file: DRMFile, handle: UInt32) throws(MagmaError) -> UInt64

    /// The driver's command submission for connections on `file`, or nil where MagmaDRM has
    /// none (every driver here: see `DRMSubmitter`).
    func makeSubmitter(for file: DRMFile) -> (any DRMSubmitter)?
}

/// The seam where a per-driver module (xe, amdgpu, msm, panthor, i915) plugs in command
/// submission: its contexts (exec queues, submit queues), its GPU address space (VM_BIND,
/// GEM_VA) and its submit ioctl, with buffers and semaphores named by the GEM and syncobj
/// handles the connection resolves. None exists here: the machines that build and test this
/// project have no GPU, and vgem and virtio_gpu without virgl cannot execute anything, so a
/// `DRMConnection` whose driver returns no submitter answers these requests UNIMPLEMENTED.
public protocol DRMSubmitter: Sendable {
    /// Makes a context (a queue of work in order); returns its id.
    func createContext(priority: Priority) throws(MagmaError) -> UInt32
    /// Destroys a context.
    func destroyContext(_ id: UInt32) throws(MagmaError)
    /// Maps `length` bytes of buffer object `handle` from `offset` at `gpuAddress`.
    func map(handle: UInt32, at gpuAddress: UInt64, offset: UInt64, length: UInt64, flags: MapFlags) throws(MagmaError)
    /// Removes the mapping of buffer object `handle` at `gpuAddress`.
    func unmap(handle: UInt32, at gpuAddress: UInt64) throws(MagmaError)
    /// Submits `descriptor` on context `contextId`; `resolve` gives the GEM handle of a buffer
    /// id and the syncobj handle of a semaphore id (nil: not this connection's).
    func execute(contextId: UInt32, _ descriptor: CommandDescriptor, resolve: DRMHandleResolver) throws(MagmaError)
    /// Submits inline commands on context `contextId`, in the driver's own form.
    func executeInline(contextId: UInt32, _ commands: [InlineCommand]) throws(MagmaError)
}

/// Turns a connection's object ids into the kernel handles a submitter passes to its ioctls.
public struct DRMHandleResolver: Sendable {
    /// The GEM handle of a buffer id.
    public let buffer: @Sendable (ObjectId) -> UInt32?
    /// The syncobj handle of a semaphore id.
    public let semaphore: @Sendable (ObjectId) -> UInt32?
}

/// The drivers MagmaDRM knows, by DRM_IOCTL_VERSION name.
public enum DRMDrivers {
    /// virtio_gpu's resources; vgem's dumb buffers; dumb buffers on the card node for any
    /// other driver (a KMS driver has them; one without fails with the kernel's error).
    public static func driver(named name: String) -> any DRMDriver {
        switch name {
        case "virtio_gpu": VirtioGPUDriver()
        default: DumbBufferDriver()
        }
    }
}
