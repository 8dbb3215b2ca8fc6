import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaWire
import SystemPackage

/// One Magma connection through virtio-gpu: one `VirtGPUSocketDevice` (an open of the device:
/// a context of capset 7 of this process's guest at the socket path, `VirtioGuests`, sharing
/// the guest's memory with the process's other connections), whose host side is a connection of
/// the host device. Object ids are this guest's (one counter per connection), feed-forward context
/// commands go on the connection's shared-memory command rings (`VirtioRingTransport`: no
/// system call per submission), synchronous and fenced ones in SUBMIT_3D (which the host
/// applies after what the rings held), calls wait on their fence (`VirtioCalls`), and a watcher thread
/// turns the host's fences into the connection's failure and semaphore mirrors
/// (`VirtioWatcher`). Feed-forward requests the host refuses fail the connection, as on the
/// other Fuchsia-protocol backends.
final class VirtioConnection: ConnectionBackend, Sendable {
    let device: any VirtGPUDevice
    /// The socket emulation's guest, whose share ids and key export and import use; nil on the
    /// kernel's device (share ids drawn at random there, `VirtioShareToken.kernelGuestKey`).
    let guest: VirtGPUSocketGuest?
    /// The connection's synchronous calls (ring 0).
    let calls: VirtioCalls
    /// The watcher thread's calls (ring 5), never behind the connection's.
    let watcherCalls: VirtioCalls
    let rings: VirtioRingTransport
    let waitRings: VirtioWaitRings
    /// Set once, at the end of `init` (its callbacks need `self`), never changed.
    private(set) nonisolated(unsafe) var watcher: VirtioWatcher!
    private let info: PhysicalDeviceInfo
    private let nextId = Locked<UInt64>(1)
    private let failure = Locked<MagmaError?>(nil)
    private let failed: EventSemaphore
    private let semaphores = Locked<[ObjectId: VirtioSemaphore]>([:])
    /// Its live timelines' ids (an export names only a live one).
    private let timelines = Locked<Set<ObjectId>>([])

    /// A connection as a new open of the guest at `path`; `contextInit: false` makes that guest's
    /// device one without CONTEXT_INIT (`VirtGPUSocketGuest.offersContextInit`).
    convenience init(path: String, info: PhysicalDeviceInfo, contextInit: Bool = true) throws(MagmaError) {
        let device = try VirtioGuests.open(path: path, contextInit: contextInit)
        try self.init(device: device, guest: device.guest, hangupDescriptor: device.hangupDescriptor, info: info)
    }

    /// A connection as a new open of a guest kernel's virtio_gpu render node (`VirtGPUKernelDevice`).
    convenience init(renderNode: String, info: PhysicalDeviceInfo) throws(MagmaError) {
        try self.init(device: try VirtGPUKernelDevice(renderNode: renderNode), guest: nil, hangupDescriptor: FileDescriptor(rawValue: -1), info: info)
    }

    /// A connection over `device`, an open of a virtio-gpu device not yet initialized;
    /// `hangupDescriptor` polls POLLHUP once the host has gone (-1: a kernel device, whose host
    /// cannot go without the guest).
    private init(device: any VirtGPUDevice, guest: VirtGPUSocketGuest?, hangupDescriptor: FileDescriptor, info: PhysicalDeviceInfo) throws(MagmaError) {
        self.info = info
        self.device = device
        self.guest = guest
        // With CONTEXT_INIT each kind of fence has a ring (a timeline) of its own; without, every
        // fence is on the device's one timeline, which the host's preemption of waits keeps moving.
        let ringCount = try device.parameter(.contextInit) == 1 ? VirtioWaitRings.ringCount : 1
        try device.initializeContext(capsetId: VirtioGPU.magmaCapsetId, ringCount: ringCount)
        calls = try VirtioCalls(device: device, ring: VirtioCalls.callRing)
        let watcherCalls = try VirtioCalls(device: device, ring: VirtioCalls.watcherRing)
        self.watcherCalls = watcherCalls
        rings = try VirtioRingTransport(device: device, calls: calls)
        waitRings = VirtioWaitRings()
        do { failed = try EventSemaphore() } catch { throw .internalError("\(error)") }
        watcher = try VirtioWatcher(device: device, hangupDescriptor: hangupDescriptor, onFailure: { [weak self] error in self?.fail(error) },
                                    resync: { semaphores in for semaphore in semaphores { _ = semaphore.isSignaled(asking: watcherCalls) } })
    }

    deinit {
        watcher?.stop()
        device.close()
    }

    func takeId() -> ObjectId { nextId.withLock { id in defer { id += 1 }; return id } }

    /// Records the connection's first failure; every later call and wait sees it.
    func fail(_ error: MagmaError) {
        let first = failure.withLock { failure in
            guard failure == nil else { return false }
            failure = error
            return true
        }
        if first { failed.signal() }
    }

    /// Sends feed-forward commands: as a command ring record when they fit one (unless
    /// `bypassingRings`), else in an unfenced SUBMIT_3D. A transport failure fails the connection.
    /// On a device that returns before the host applied the SUBMIT_3D (the kernel's), a `flush`
    /// call follows it (the virtqueue is applied in order), so no later ring record overtakes it.
    func send(_ commands: [VirtioContextCommand], bypassingRings: Bool = false) {
        if !bypassingRings {
            do { if try rings.submit(commands, health: { [weak self] in self?.error }) { return } } catch {
                return fail(error)
            }
        }
        let payload: [UInt8]
        do { payload = try VirtioContextCommand.payload(commands) } catch { return fail(.invalidArgs("\(error)")) }
        do { _ = try device.submit(payload, fenceOnRing: nil) } catch { return fail(error) }
        if !device.appliesSubmissionsOnReturn { _ = flush() }
    }

    /// Releases a host object. On a device that returns before the host applied a SUBMIT_3D
    /// (the kernel's), the release goes in a SUBMIT_3D too, after every SUBMIT_3D still queued
    /// that names the object (a wait, a large record) and the ring records before it, and the
    /// flush after it keeps later ring records (which may name the released id) behind it.
    private func sendRelease(_ id: ObjectId, _ type: ObjectType) {
        send([.primary(.releaseObject(.init(objectId: id, objectType: type)))], bypassingRings: !device.appliesSubmissionsOnReturn)
    }

    private func checkHealthy() throws(MagmaError) { if let error { throw error } }

    // MARK: Buffers

    func createBuffer(size: UInt64, memoryType: UInt32, name: String) throws(MagmaError) -> any BackendBuffer {
        try checkHealthy()
        guard let rounded = SharedMemory.pageAligned(size), rounded < UInt64(UInt32.max) else {
            throw .invalidArgs("buffer size \(size) too large for a virtio resource")
        }
        let type = try info.memoryProperties.memoryType(memoryType)
        guard rounded <= info.limits.maxAllocationSize else { throw .memoryError("\(size) bytes: past the largest allocation") }
        return try buffer(of: try device.createResource(size: Int(size)), memoryType: memoryType, type: type)
    }

    /// A buffer another connection of this guest exported: the same resource (PRIME import:
    /// attached to this connection's context too), made a buffer here by `create_buffer`, so
    /// both alias the same guest pages, CPU and GPU.
    func importBuffer(_ handle: OwnedFileDescriptor, memoryType: UInt32) throws(MagmaError) -> any BackendBuffer {
        try checkHealthy()
        let type = try info.memoryProperties.memoryType(memoryType)
        return try buffer(of: try device.importResource(handle), memoryType: memoryType, type: type)
    }

    /// Makes `resource` a host buffer of this connection (`create_buffer`, a call); on a refusal
    /// the resource is released and the error thrown.
    private func buffer(of resource: any VirtGPUResource, memoryType: UInt32, type: MemoryType) throws(MagmaError) -> VirtioBuffer {
        let id = takeId()
        do {
            try calls.statusCall { .createBuffer(.init(resourceId: resource.resourceId, memoryType: memoryType, bufferId: id, reply: $0)) }
        } catch {
            try? device.release(resource)
            throw error
        }
        return VirtioBuffer(id: id, resource: resource, hostVisible: type.propertyFlags.contains(.hostVisible), device: device)
    }

    func memoryBudget(heap: UInt32) throws(MagmaError) -> MemoryBudget {
        try checkHealthy()
        guard case .memoryBudgetReply(let reply) = try calls.call({ .getMemoryBudget(.init(heap: heap, reply: $0)) }) else {
            throw .internalError("expected memory_budget_reply")
        }
        guard reply.status == .ok else { throw MagmaError(reply.status, "memory budget of heap \(heap)") }
        return MemoryBudget(budget: reply.budget, usage: reply.usage)
    }

    func release(_ buffer: any BackendBuffer) throws(MagmaError) {
        guard let buffer = buffer as? VirtioBuffer else { throw .invalidArgs("not a virtio buffer") }
        sendRelease(buffer.id, .buffer)
        try device.release(buffer.resource)
    }

    func perform(_ op: BufferRangeOp, on buffer: any BackendBuffer, offset: UInt64, length: UInt64) throws(MagmaError) {
        guard let buffer = buffer as? VirtioBuffer else { throw .invalidArgs("not a virtio buffer") }
        switch op {
        case .commit, .decommit:
            try op.checkPages(offset: offset, length: length, bufferSize: buffer.size)
            // The resource's own pages (its memfd, its region of guest memory), which the host GPU maps in place.
            if op == .commit {
                try buffer.resource.commit(offset: Int(offset), length: Int(length))
            } else {
                try buffer.resource.decommit(offset: Int(offset), length: Int(length))
            }
        case .populateTables, .depopulateTables:
            let wireOp: BufferOp = op == .populateTables ? .populateTables : .depopulateTables
            send([.primary(.bufferRangeOp(.init(op: wireOp, range: BufferRange(bufferId: buffer.id, offset: offset, length: length))))])
        }
    }

    // MARK: Sync objects

    func createSemaphore() throws(MagmaError) -> any BackendSemaphore {
        try checkHealthy()
        let semaphore = try VirtioSemaphore(id: takeId(), connection: self, isOneShot: false)
        send([.virtio(.createSemaphore(.init(semaphoreId: semaphore.id)))])
        semaphores.withLock { $0[semaphore.id] = semaphore }
        watcher.watch(semaphore)
        return semaphore
    }

    /// A semaphore another connection of this guest exported (its mirror eventfd, taken): the
    /// host imports the same host semaphore, the share its eventfd names, into this context
    /// (`import_object`); its mirror here watches it as any other. INVALID_ARGS for an eventfd
    /// no semaphore of this guest shares (another guest's, a released semaphore's, any other)
    /// and for anything that is no eventfd.
    func importSemaphore(_ handle: OwnedFileDescriptor, flags: ImportSemaphoreFlags) throws(MagmaError) -> any BackendSemaphore {
        try checkHealthy()
        let share = try Self.semaphoreShare(of: handle.fileDescriptor)
        let semaphore = try VirtioSemaphore(id: takeId(), connection: self, isOneShot: flags.contains(.oneShot))
        do {
            try calls.statusCall { .importObject(.init(shareId: share, objectType: .semaphore, objectId: semaphore.id, flags: flags, reply: $0)) }
        } catch where error.status == .invalidArgs {
            throw .invalidArgs("the eventfd is no semaphore this virtio guest shares (one of another virtio guest, a released one, or no semaphore's): objects never cross guests")
        }
        semaphores.withLock { $0[semaphore.id] = semaphore }
        watcher.watch(semaphore)
        return semaphore
    }

    /// Shares `semaphore` with the guest's other connections as the other backends share
    /// theirs: the descriptor is a duplicate of its mirror eventfd, which polls readable while
    /// it is signaled. The share id is the one that eventfd names (`semaphoreShare(of:)`), so an
    /// importer needs nothing but the descriptor; its first export records it on the host
    /// (`export_object`), later ones reuse it. INVALID_ARGS for a released semaphore (checked
    /// here: the host would fail the context).
    func export(_ semaphore: VirtioSemaphore) throws(MagmaError) -> OwnedFileDescriptor {
        try checkHealthy()
        guard semaphores.withLock({ $0[semaphore.id] === semaphore }) else {
            throw .invalidArgs("semaphore \(semaphore.id) was released: nothing to export")
        }
        try semaphore.isShared.withLock { shared throws(MagmaError) in
            guard !shared else { return }
            let share = try Self.semaphoreShare(of: semaphore.mirror.descriptor.fileDescriptor)
            try calls.statusCall { .exportObject(.init(objectId: semaphore.id, objectType: .semaphore, shareId: share, reply: $0)) }
            shared = true
        }
        do { return try semaphore.mirror.descriptor.duplicate() } catch { throw .internalError("semaphore export: \(error)") }
    }

    /// Semaphore shares are 2^63 + the kernel's id of the mirror eventfd (`EventSemaphore.kernelId`):
    /// unique in the guest while the eventfd lives (on the kernel's device across every process
    /// of the VM, which share one share table), and never a timeline's (below 2^63).
    static let semaphoreShareBase: UInt64 = 1 << 63

    /// The share id the eventfd behind `descriptor` (borrowed) names; INVALID_ARGS if it is no eventfd.
    static func semaphoreShare(of descriptor: FileDescriptor) throws(MagmaError) -> UInt64 {
        guard let id = EventSemaphore.kernelId(of: descriptor), id < semaphoreShareBase else {
            throw .invalidArgs("not an exported virtio semaphore (an eventfd whose id the kernel says in fdinfo)")
        }
        return semaphoreShareBase | id
    }

    /// Shares timeline `id` of this connection with the guest's other connections
    /// (`export_object` under a new share id of the guest, below 2^63): the descriptor is a
    /// share token naming it. INVALID_ARGS for a released timeline (checked here: the host
    /// would fail the context).
    func exportTimeline(_ id: ObjectId) throws(MagmaError) -> OwnedFileDescriptor {
        try checkHealthy()
        guard timelines.withLock({ $0.contains(id) }) else { throw .invalidArgs("timeline \(id) was released: nothing to export") }
        // On the kernel's device the guest is the whole VM, whose processes share no counter:
        // a random share id, drawn again in the unlikely case the host has it in use.
        let random = { UInt64.random(in: 1..<Self.semaphoreShareBase) }
        var share = guest?.takeShareId() ?? random()
        for attempt in 0..<8 {
            do throws(MagmaError) {
                try calls.statusCall { .exportObject(.init(objectId: id, objectType: .timeline, shareId: share, reply: $0)) }
                break
            } catch where guest == nil && error.status == .invalidArgs && attempt < 7 {
                share = random()
            }
        }
        return try VirtioShareToken(guestKey: shareKey, id: share).descriptor()
    }

    /// The key share tokens of this connection's guest carry: the socket guest's, or the kernel
    /// device's (the VM is the guest there, and a token never leaves it).
    private var shareKey: UInt64 { guest?.key ?? VirtioShareToken.kernelGuestKey }

    func release(_ semaphore: any BackendSemaphore) throws(MagmaError) {
        guard let semaphore = semaphore as? VirtioSemaphore else { throw .invalidArgs("not a virtio semaphore") }
        semaphores.withLock { _ = $0.removeValue(forKey: semaphore.id) }
        watcher.unwatch(semaphore)
        sendRelease(semaphore.id, .semaphore)
    }

    func createTimeline(initialValue: UInt64) throws(MagmaError) -> any BackendTimeline {
        try checkHealthy()
        let timeline = VirtioTimeline(id: takeId(), initialValue: initialValue, connection: self)
        send([.virtio(.createTimeline(.init(timelineId: timeline.id, initialValue: initialValue)))])
        timelines.withLock { _ = $0.insert(timeline.id) }
        return timeline
    }

    /// A timeline another connection of this guest exported: the host imports the same host
    /// timeline into this context (`import_object`).
    func importTimeline(_ handle: OwnedFileDescriptor) throws(MagmaError) -> any BackendTimeline {
        try checkHealthy()
        let share = try VirtioShareToken.id(in: handle, guestKey: shareKey)
        let timeline = VirtioTimeline(id: takeId(), initialValue: 0, connection: self)
        try calls.statusCall { .importObject(.init(shareId: share, objectType: .timeline, objectId: timeline.id, flags: [], reply: $0)) }
        timelines.withLock { _ = $0.insert(timeline.id) }
        return timeline
    }

    func release(_ timeline: any BackendTimeline) throws(MagmaError) {
        guard let timeline = timeline as? VirtioTimeline else { throw .invalidArgs("not a virtio timeline") }
        timelines.withLock { _ = $0.remove(timeline.id) }
        watcher.unwatchTimeline(timeline.id)
        sendRelease(timeline.id, .timeline)
    }

    // MARK: Contexts and address space

    func createContext(queueFamily: UInt32, priority: Priority) throws(MagmaError) -> UInt32 {
        try checkHealthy()
        let id = UInt32(truncatingIfNeeded: takeId())
        send([.primary(.createContext(.init(contextId: id, priority: priority, queueFamily: queueFamily)))])
        return id
    }

    func destroyContext(_ id: UInt32) throws(MagmaError) {
        send([.primary(.destroyContext(.init(contextId: id)))])
    }

    func map(_ buffer: any BackendBuffer, at gpuAddress: UInt64, offset: UInt64, length: UInt64, flags: MapFlags) throws(MagmaError) {
        send([.primary(.mapBuffer(.init(gpuAddress: gpuAddress, range: BufferRange(bufferId: buffer.id, offset: offset, length: length), flags: flags)))])
    }

    func unmap(_ buffer: any BackendBuffer, at gpuAddress: UInt64) throws(MagmaError) {
        send([.primary(.unmapBuffer(.init(gpuAddress: gpuAddress, bufferId: buffer.id)))])
    }

    // MARK: Submissions

    func execute(contextId: UInt32, _ descriptor: CommandDescriptor) throws(MagmaError) {
        submitWork(.primary(.executeCommand(.init(
            contextId: contextId, resources: descriptor.resources, commandBuffers: descriptor.commandBuffers,
            waitSemaphores: descriptor.waitSemaphores, signalSemaphores: descriptor.signalSemaphores, flags: descriptor.flags,
            waitTimelinePoints: descriptor.waitTimelinePoints, signalTimelinePoints: descriptor.signalTimelinePoints))),
            waits: descriptor.waitSemaphores)
    }

    func executeInline(contextId: UInt32, _ commands: [InlineCommand]) throws(MagmaError) {
        for batch in InlineCommandBatching.batches(commands) {
            send([.primary(.executeInlineCommands(.init(contextId: contextId, commands: Array(batch))))])
        }
    }

    func execute(contextId: UInt32, _ command: GpuAddressCommand) throws(MagmaError) {
        submitWork(.primary(.executeCommandAtAddress(.init(
            contextId: contextId, gpuAddress: command.gpuAddress, length: command.length, waitSemaphores: command.waitSemaphores,
            signalSemaphores: command.signalSemaphores, flags: command.flags,
            waitTimelinePoints: command.waitTimelinePoints, signalTimelinePoints: command.signalTimelinePoints))),
            waits: command.waitSemaphores)
    }

    func bind(contextId: UInt32, _ submission: BindSubmission) throws(MagmaError) {
        submitWork(.primary(.bind(.init(contextId: contextId, operations: submission.operations, waitSemaphores: submission.waitSemaphores,
                                        signalSemaphores: submission.signalSemaphores,
                                        waitTimelinePoints: submission.waitTimelinePoints,
                                        signalTimelinePoints: submission.signalTimelinePoints))),
                   waits: submission.waitSemaphores)
    }

    /// Work that waits on semaphores also signals a completion semaphore of its own (made on
    /// the host first), which the watcher waits for, so their mirrors are checked once it has run.
    /// The work itself is never fenced: a fence waiting for GPU work would hold every later
    /// fence of its timeline (all of them, on a device without CONTEXT_INIT).
    private func submitWork(_ command: VirtioContextCommand, waits: [ObjectId]) {
        let waited = semaphores.withLock { table in waits.compactMap { table[$0] } }
        guard !waited.isEmpty else { return send([command]) }
        let completion = takeId()
        send([.virtio(.createSemaphore(.init(semaphoreId: completion))), command.signaling(completion)])
        do { try watcher.track(completion: completion, waited: waited) } catch { fail(error) }
    }

    // MARK: Performance counters

    func enablePerformanceCounterAccess(token: OwnedFileDescriptor) throws(MagmaError) { throw Self.noCounters }
    func isPerformanceCounterAccessAllowed() throws(MagmaError) -> Bool { false }
    func enablePerformanceCounters(_ counters: [UInt64]) throws(MagmaError) { throw Self.noCounters }
    func clearPerformanceCounters(_ counters: [UInt64]) throws(MagmaError) { throw Self.noCounters }
    func createPerformanceCounterPool() throws(MagmaError) -> any BackendPerformanceCounterPool { throw Self.noCounters }
    func release(_ pool: any BackendPerformanceCounterPool) throws(MagmaError) { throw Self.noCounters }
    func addPerformanceCounterRanges(_ ranges: [BufferRange], to pool: any BackendPerformanceCounterPool) throws(MagmaError) { throw Self.noCounters }
    func removePerformanceCounterBuffer(_ buffer: any BackendBuffer, from pool: any BackendPerformanceCounterPool) throws(MagmaError) {
        throw Self.noCounters
    }
    func dumpPerformanceCounters(into pool: any BackendPerformanceCounterPool, triggerId: UInt32) throws(MagmaError) { throw Self.noCounters }
    private static let noCounters = MagmaError.unimplemented("performance counters are not offered over virtio")
}

extension VirtioContextCommand {
    /// The same work, signaling host semaphore `semaphore` too when it completes (execute,
    /// execute at address, bind; any other command is returned as it is).
    func signaling(_ semaphore: ObjectId) -> VirtioContextCommand {
        switch self {
        case .primary(.executeCommand(var m)):
            m.signalSemaphores.append(semaphore)
            return .primary(.executeCommand(m))
        case .primary(.executeCommandAtAddress(var m)):
            m.signalSemaphores.append(semaphore)
            return .primary(.executeCommandAtAddress(m))
        case .primary(.bind(var m)):
            m.signalSemaphores.append(semaphore)
            return .primary(.bind(m))
        default: return self
        }
    }
}

extension VirtioConnection {

    // MARK: Errors and lifetime

    func flush() -> MagmaError? {
        if let error { return error }
        do { try calls.statusCall { .flush(.init(reply: $0)) } } catch {
            fail(error)
            return error
        }
        return error
    }

    var error: MagmaError? { failure.withLock { $0 } }
    var failureDescriptor: FileDescriptor { failed.descriptor.fileDescriptor }
    /// Readable while a notification from the host is queued or the channel has ended.
    var notificationDescriptor: FileDescriptor { watcher.notifications.readiness.descriptor.fileDescriptor }
    /// Once the connection has failed and nothing more is queued (the host was synced), the
    /// channel is over for this guest: CONNECTION_LOST, as on the other backends.
    func readNotification() throws(MagmaError) -> [UInt8]? {
        if let message = try watcher.notifications.read(calls) { return message }
        if let error { throw MagmaError(.connectionLost, "\(error)") }
        return nil
    }
    /// CONNECTION_LOST once the connection has failed, or once the host has ended its
    /// notification channel: the host ends it only for a failed or closed context, and on a
    /// device with one fence timeline the read that says so can complete before the failure
    /// watch does, so a wait woken by the channel's end must not return as if it were healthy.
    var notificationChannelError: MagmaError? {
        if let error { return MagmaError(.connectionLost, "\(error)") }
        return watcher.notifications.hasEnded ? MagmaError(.connectionLost, "the notification channel has ended") : nil
    }

    func close() {
        fail(.badState("connection was released"))
        watcher?.stop()
        semaphores.withLock { $0 = [:] }
        device.close()
    }
}
