import Magma
import MagmaPlatform
import MagmaProtocol
import Synchronization
import SystemPackage

/// A connection on one open DRM file: its buffers are GEM objects, its semaphores binary
/// syncobjs (and `createTimeline` makes timeline ones), in
/// the file's own tables. Every call is a synchronous ioctl, so errors are immediate and
/// never sticky; the connection only ends by `close()`, which closes every handle it holds.
/// Command submission goes to the driver's `DRMSubmitter`; without one (every driver here)
/// contexts, GPU mappings and submissions are UNIMPLEMENTED.
public final class DRMConnection: ConnectionBackend {
    /// The open node.
    public let file: DRMFile
    /// The device it is on.
    public let device: DRMDeviceInfo
    private let driver: any DRMDriver
    private let submitter: (any DRMSubmitter)?
    private let handles = GEMHandleTable()
    private let objects = Locked(Objects())
    /// Signaled once closed: the failure and notification descriptor.
    private let closedEvent: EventSemaphore

    private struct Objects {
        var nextId: ObjectId = 1
        var buffers: [ObjectId: DRMBuffer] = [:]
        var semaphores: [ObjectId: DRMSemaphore] = [:]
        var timelines: [UInt32: DRMTimeline] = [:]
        var closed = false
    }

    init(file: DRMFile, device: DRMDeviceInfo, driver: any DRMDriver) throws(MagmaError) {
        self.file = file
        self.device = device
        self.driver = driver
        submitter = driver.makeSubmitter(for: file)
        do { closedEvent = try EventSemaphore() } catch { throw .drm("eventfd", errno: error.code) }
    }

    deinit { close() }

    // MARK: Buffers

    /// A buffer object made by the driver (vgem: a dumb buffer; virtio_gpu: a resource).
    /// Memory type 0 only.
    public func createBuffer(size: UInt64, memoryType: UInt32, name: String) throws(MagmaError) -> any BackendBuffer {
        guard memoryType == 0 else { throw .invalidArgs("memory type \(memoryType): a DRM device has one, 0") }
        let made = try driver.createBuffer(in: file, size: size)
        handles.retain(made.handle)
        return try register(handle: made.handle, size: made.size, importedFrom: nil)
    }

    /// Imports a dma-buf (PRIME); ownership of `handle` passes to the buffer, whose CPU mapping
    /// is the dma-buf's. Anything but a dma-buf is INVALID_ARGS; a dma-buf this driver cannot
    /// import (virtio_gpu, another device's) is UNIMPLEMENTED (ENODEV).
    /// The memory type must be 0, the one `DRMDevice.physicalDeviceInfo` reports.
    public func importBuffer(_ handle: OwnedFileDescriptor, memoryType: UInt32 = 0) throws(MagmaError) -> any BackendBuffer {
        guard memoryType == 0 else { throw .invalidArgs("memory type \(memoryType): a DRM device has one, 0") }
        let gem = try file.importDMABuf(handle.fileDescriptor)
        handles.retain(gem)
        let size: UInt64
        do { size = try DMABuf.size(of: handle.fileDescriptor) } catch {
            dropReference(to: gem)
            throw error
        }
        return try register(handle: gem, size: size, importedFrom: handle)
    }

    /// Records a buffer whose handle reference the caller has taken; drops it if closed.
    private func register(handle: UInt32, size: UInt64, importedFrom: OwnedFileDescriptor?) throws(MagmaError) -> DRMBuffer {
        let buffer = objects.withLock { (objects) -> DRMBuffer? in
            guard !objects.closed else { return nil }
            let buffer = DRMBuffer(id: objects.nextId, handle: handle, size: size, file: file, driver: driver, importedFrom: importedFrom)
            objects.nextId += 1
            objects.buffers[buffer.id] = buffer
            return buffer
        }
        guard let buffer else {
            dropReference(to: handle)
            throw MagmaError(.connectionLost, "DRM connection closed")
        }
        return buffer
    }

    /// Drops one reference to a GEM handle on a failure path, closing it if it was the last.
    private func dropReference(to handle: UInt32) {
        if handles.release(handle) { try? file.closeGEMHandle(handle) }
    }

    /// Drops the buffer's reference to its GEM handle, closing the handle when it was the last
    /// (GEM_CLOSE, exactly once). A buffer released before, or not this connection's, is
    /// INVALID_ARGS and touches no handle.
    public func release(_ buffer: any BackendBuffer) throws(MagmaError) {
        guard let buffer = buffer as? DRMBuffer else { throw .invalidArgs("not a DRM buffer") }
        let owned = objects.withLock { $0.buffers[buffer.id] === buffer ? $0.buffers.removeValue(forKey: buffer.id) : nil }
        guard owned != nil, buffer.markReleased() else { throw .invalidArgs("buffer \(buffer.id) is not open in this connection (released twice?)") }
        if handles.release(buffer.handle) { try file.closeGEMHandle(buffer.handle) }
    }

    /// UNIMPLEMENTED: the kernel commits a GEM object's pages itself, and GPU page tables
    /// belong to a driver's submission module.
    public func perform(_ op: BufferRangeOp, on buffer: any BackendBuffer, offset: UInt64, length: UInt64) throws(MagmaError) {
        throw .unimplemented("\(op) on DRM device \(device.locatorName): the kernel manages the object's pages")
    }

    // MARK: Sync objects

    /// A binary syncobj, unsignaled. UNIMPLEMENTED on a driver without syncobjs (EOPNOTSUPP),
    /// and on one without SYNCOBJ_EVENTFD, which the poll descriptor needs.
    public func createSemaphore() throws(MagmaError) -> any BackendSemaphore {
        try registerSemaphore(handle: try file.createSyncobj(), isOneShot: false)
    }

    /// Imports an opaque syncobj descriptor (a new handle sharing the container) or, failing
    /// that, a sync_file (any driver's fence, in a new syncobj); takes ownership of `handle`.
    /// Anything else is INVALID_ARGS.
    public func importSemaphore(_ handle: OwnedFileDescriptor, flags: ImportSemaphoreFlags) throws(MagmaError) -> any BackendSemaphore {
        let syncobj: UInt32
        do {
            syncobj = try file.importSyncobj(handle.fileDescriptor)
        } catch where error.status == .invalidArgs {
            syncobj = try file.createSyncobj()
            do { try file.importSyncFile(handle.fileDescriptor, into: syncobj) } catch {
                try? file.destroySyncobj(syncobj)
                throw MagmaError(error.status, "descriptor \(handle.rawValue) is neither a syncobj nor a sync_file: \(error.message)",
                                 systemErrorCode: error.systemErrorCode)
            }
        }
        return try registerSemaphore(handle: syncobj, isOneShot: flags.contains(.oneShot))
    }

    private func registerSemaphore(handle: UInt32, isOneShot: Bool) throws(MagmaError) -> DRMSemaphore {
        let id = objects.withLock { (objects) -> ObjectId? in
            guard !objects.closed else { return nil }
            defer { objects.nextId += 1 }
            return objects.nextId
        }
        let semaphore: DRMSemaphore
        do throws(MagmaError) {
            guard let id else { throw MagmaError(.connectionLost, "DRM connection closed") }
            semaphore = try DRMSemaphore(id: id, handle: handle, isOneShot: isOneShot, file: file)
        } catch {
            try? file.destroySyncobj(handle)
            throw error
        }
        let added = objects.withLock { (objects) -> Bool in
            guard !objects.closed else { return false }
            objects.semaphores[semaphore.id] = semaphore
            return true
        }
        guard added else {
            _ = semaphore.markReleased()
            try? file.destroySyncobj(handle)
            throw MagmaError(.connectionLost, "DRM connection closed")
        }
        return semaphore
    }

    /// Destroys the syncobj handle (SYNCOBJ_DESTROY, once). A semaphore released before, or
    /// not this connection's, is INVALID_ARGS.
    public func release(_ semaphore: any BackendSemaphore) throws(MagmaError) {
        guard let semaphore = semaphore as? DRMSemaphore else { throw .invalidArgs("not a DRM semaphore") }
        let owned = objects.withLock { $0.semaphores[semaphore.id] === semaphore ? $0.semaphores.removeValue(forKey: semaphore.id) : nil }
        guard owned != nil, semaphore.markReleased() else { throw .invalidArgs("semaphore \(semaphore.id) is not open in this connection (released twice?)") }
        try file.destroySyncobj(semaphore.handle)
    }

    /// The driver has binary syncobjs, whose fences move as sync_files.
    public var hasSyncFiles: Bool { device.capabilities.syncobj }

    /// SYNCOBJ_HANDLE_TO_FD with EXPORT_SYNC_FILE of one of this connection's semaphores:
    /// BAD_STATE while it holds no fence; another connection's semaphore is INVALID_ARGS.
    public func exportSyncFile(of semaphore: any BackendSemaphore) throws(MagmaError) -> OwnedFileDescriptor {
        try ownSemaphore(semaphore).exportSyncFile()
    }

    /// SYNCOBJ_FD_TO_HANDLE with IMPORT_SYNC_FILE into one of this connection's semaphores;
    /// a descriptor that is no sync_file is INVALID_ARGS (EINVAL).
    public func importSyncFile(_ syncFile: OwnedFileDescriptor, into semaphore: any BackendSemaphore) throws(MagmaError) {
        try ownSemaphore(semaphore).importSyncFile(syncFile)
    }

    private func ownSemaphore(_ semaphore: any BackendSemaphore) throws(MagmaError) -> DRMSemaphore {
        guard let semaphore = semaphore as? DRMSemaphore,
              objects.withLock({ $0.semaphores[semaphore.id] === semaphore }) else {
            throw .invalidArgs("semaphore \(semaphore.id) is not open in this connection")
        }
        return semaphore
    }

    /// A timeline syncobj at `initialValue` (a CPU signal of that point when it is not 0), as
    /// the backend protocol's timeline. UNIMPLEMENTED on a driver without timeline syncobjs.
    public func createTimeline(initialValue: UInt64) throws(MagmaError) -> any BackendTimeline {
        let timeline = try createTimeline()
        guard initialValue > 0 else { return timeline }
        do { try timeline.signal(initialValue) } catch {
            try? release(timeline)
            throw error
        }
        return timeline
    }

    /// Imports an opaque syncobj descriptor (SYNCOBJ_FD_TO_HANDLE: a new handle to the same
    /// container) as a timeline; anything else is INVALID_ARGS. A binary syncobj's descriptor is
    /// a syncobj too: the kernel does not tell the two apart.
    public func importTimeline(_ handle: OwnedFileDescriptor) throws(MagmaError) -> any BackendTimeline {
        guard device.capabilities.syncobjTimeline else {
            throw .unimplemented("\(device.driver.name) has no timeline syncobjs (DRM_CAP_SYNCOBJ_TIMELINE is 0)")
        }
        let syncobj: UInt32
        do { syncobj = try file.importSyncobj(handle.fileDescriptor) } catch {
            throw MagmaError(.invalidArgs, "descriptor \(handle.rawValue) is not a syncobj: \(error.message)", systemErrorCode: error.systemErrorCode)
        }
        let timeline = DRMTimeline(handle: syncobj, file: file)
        let added = objects.withLock { (objects) -> Bool in
            guard !objects.closed else { return false }
            objects.timelines[timeline.handle] = timeline
            return true
        }
        guard added else {
            try? file.destroySyncobj(syncobj)
            throw MagmaError(.connectionLost, "DRM connection closed")
        }
        return timeline
    }

    /// Releases a timeline this connection made or imported (`release(_: DRMTimeline)`); any
    /// other is INVALID_ARGS.
    public func release(_ timeline: any BackendTimeline) throws(MagmaError) {
        guard let timeline = timeline as? DRMTimeline else { throw .invalidArgs("not a DRM timeline") }
        try release(timeline)
    }

    /// A timeline syncobj at point 0 (UNIMPLEMENTED on a driver without timelines).
    public func createTimeline() throws(MagmaError) -> DRMTimeline {
        guard device.capabilities.syncobjTimeline else {
            throw .unimplemented("\(device.driver.name) has no timeline syncobjs (DRM_CAP_SYNCOBJ_TIMELINE is 0)")
        }
        let timeline = DRMTimeline(handle: try file.createSyncobj(), file: file)
        let added = objects.withLock { (objects) -> Bool in
            guard !objects.closed else { return false }
            objects.timelines[timeline.handle] = timeline
            return true
        }
        guard added else {
            try? file.destroySyncobj(timeline.handle)
            throw MagmaError(.connectionLost, "DRM connection closed")
        }
        return timeline
    }

    /// Destroys a timeline's syncobj handle, once; INVALID_ARGS the second time.
    public func release(_ timeline: DRMTimeline) throws(MagmaError) {
        let owned = objects.withLock { $0.timelines[timeline.handle] === timeline ? $0.timelines.removeValue(forKey: timeline.handle) : nil }
        guard owned != nil, timeline.markReleased() else { throw .invalidArgs("timeline syncobj \(timeline.handle) is not open in this connection") }
        try file.destroySyncobj(timeline.handle)
    }

    // MARK: Contexts, address space, submissions (the driver's submitter)

    private func requireSubmitter(_ what: String) throws(MagmaError) -> any DRMSubmitter {
        guard let submitter else {
            throw .unimplemented("\(what) on \(device.driver.name): MagmaDRM has no command submission for this driver (a per-driver module plugs in through DRMSubmitter; docs/drm.md)")
        }
        return submitter
    }

    private var resolver: DRMHandleResolver {
        DRMHandleResolver(buffer: { [objects] id in objects.withLock { $0.buffers[id]?.handle } },
                          semaphore: { [objects] id in objects.withLock { $0.semaphores[id]?.handle } })
    }

    public func createContext(queueFamily: UInt32, priority: Priority) throws(MagmaError) -> UInt32 {
        let submitter = try requireSubmitter("contexts")
        guard queueFamily == 0 else { throw .invalidArgs("queue family \(queueFamily): a DRM device's submitter has one, 0") }
        return try submitter.createContext(priority: priority)
    }

    /// UNIMPLEMENTED: the kernel has no generic heap-budget query (each driver has its own,
    /// such as amdgpu's INFO_VRAM_GTT), and MagmaDRM has no per-driver module for one.
    public func memoryBudget(heap: UInt32) throws(MagmaError) -> MemoryBudget {
        throw .unimplemented("memory budgets on \(device.driver.name): the kernel has no generic budget query")
    }

    public func destroyContext(_ id: UInt32) throws(MagmaError) {
        try requireSubmitter("contexts").destroyContext(id)
    }

    public func map(_ buffer: any BackendBuffer, at gpuAddress: UInt64, offset: UInt64, length: UInt64, flags: MapFlags) throws(MagmaError) {
        let submitter = try requireSubmitter("GPU mappings")
        guard let buffer = buffer as? DRMBuffer else { throw .invalidArgs("not a DRM buffer") }
        try submitter.map(handle: buffer.handle, at: gpuAddress, offset: offset, length: length, flags: flags)
    }

    public func unmap(_ buffer: any BackendBuffer, at gpuAddress: UInt64) throws(MagmaError) {
        let submitter = try requireSubmitter("GPU mappings")
        guard let buffer = buffer as? DRMBuffer else { throw .invalidArgs("not a DRM buffer") }
        try submitter.unmap(handle: buffer.handle, at: gpuAddress)
    }

    public func execute(contextId: UInt32, _ descriptor: CommandDescriptor) throws(MagmaError) {
        try requireSubmitter("submissions").execute(contextId: contextId, descriptor, resolve: resolver)
    }

    public func executeInline(contextId: UInt32, _ commands: [InlineCommand]) throws(MagmaError) {
        try requireSubmitter("inline submissions").executeInline(contextId: contextId, commands)
    }

    /// UNIMPLEMENTED: MagmaDRM manages no GPU address space to read a command stream from.
    public func execute(contextId: UInt32, _ command: GpuAddressCommand) throws(MagmaError) {
        _ = try requireSubmitter("submissions by GPU address")
        throw .unimplemented("submissions by GPU address on \(device.driver.name): MagmaDRM manages no GPU address space")
    }

    /// UNIMPLEMENTED: neither vgem nor virtio_gpu has a bind ioctl (xe's and panthor's
    /// VM_BIND are per-driver uAPI MagmaDRM has no module for), and MagmaDRM manages no GPU
    /// address space.
    public func bind(contextId: UInt32, _ submission: BindSubmission) throws(MagmaError) {
        throw .unimplemented("binds on \(device.driver.name): MagmaDRM has no bind queue (no VM_BIND ioctl on this driver)")
    }

    // MARK: Performance counters (none)

    public func enablePerformanceCounterAccess(token: OwnedFileDescriptor) throws(MagmaError) {
        throw .unimplemented("performance counters on DRM device \(device.locatorName)")
    }

    public func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool { false }

    public func enablePerformanceCounters(_ counters: [UInt64]) throws(MagmaError) {
        throw .unimplemented("performance counters on DRM device \(device.locatorName)")
    }

    public func clearPerformanceCounters(_ counters: [UInt64]) throws(MagmaError) {
        throw .unimplemented("performance counters on DRM device \(device.locatorName)")
    }

    public func createPerformanceCounterPool() throws(MagmaError) -> any BackendPerformanceCounterPool {
        throw .unimplemented("performance counters on DRM device \(device.locatorName)")
    }

    public func release(_ pool: any BackendPerformanceCounterPool) throws(MagmaError) {
        throw .invalidArgs("not a performance-counter pool of this connection")
    }

    public func addPerformanceCounterRanges(_ ranges: [BufferRange], to pool: any BackendPerformanceCounterPool) throws(MagmaError) {
        throw .invalidArgs("not a performance-counter pool of this connection")
    }

    public func removePerformanceCounterBuffer(_ buffer: any BackendBuffer, from pool: any BackendPerformanceCounterPool) throws(MagmaError) {
        throw .invalidArgs("not a performance-counter pool of this connection")
    }

    public func dumpPerformanceCounters(into pool: any BackendPerformanceCounterPool, triggerId: UInt32) throws(MagmaError) {
        throw .invalidArgs("not a performance-counter pool of this connection")
    }

    // MARK: Errors and lifetime

    /// Nothing is pending: every call was a synchronous ioctl.
    public func flush() -> MagmaError? { error }

    /// CONNECTION_LOST once closed; nil before (ioctl errors are never sticky).
    public var error: MagmaError? {
        objects.withLock { $0.closed } ? MagmaError(.connectionLost, "DRM connection closed") : nil
    }

    /// Readable once closed; owned by the connection (borrowed by the caller).
    public var failureDescriptor: FileDescriptor { closedEvent.descriptor.fileDescriptor }
    /// DRM has no driver notifications for Magma: readable only once closed. Owned by the
    /// connection (borrowed by the caller).
    public var notificationDescriptor: FileDescriptor { closedEvent.descriptor.fileDescriptor }

    public func readNotification() throws(MagmaError) -> [UInt8]? {
        if let error { throw error }
        return nil
    }

    public var notificationChannelError: MagmaError? { error }

    /// Releases every buffer, semaphore and timeline still open (each GEM handle closed once,
    /// each syncobj destroyed; CPU mappings stay valid while their buffers live) and marks the
    /// connection closed.
    public func close() {
        let open = objects.withLock { (objects) -> (buffers: [DRMBuffer], semaphores: [DRMSemaphore], timelines: [DRMTimeline]) in
            guard !objects.closed else { return ([], [], []) }
            objects.closed = true
            defer { objects.buffers = [:]; objects.semaphores = [:]; objects.timelines = [:] }
            return (Array(objects.buffers.values), Array(objects.semaphores.values), Array(objects.timelines.values))
        }
        for buffer in open.buffers { _ = buffer.markReleased() }
        for handle in handles.removeAll() { try? file.closeGEMHandle(handle) }
        for semaphore in open.semaphores where semaphore.markReleased() { try? file.destroySyncobj(semaphore.handle) }
        for timeline in open.timelines where timeline.markReleased() { try? file.destroySyncobj(timeline.handle) }
        closedEvent.signal()
    }
}
