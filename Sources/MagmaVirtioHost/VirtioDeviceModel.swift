import Glibc
import Magma
import MagmaGuestMemory
import MagmaPlatform
import MagmaProtocol
import MagmaWire

/// What one guest may hold, so a hostile one cannot exhaust the host.
public struct VirtioDeviceLimits: Sendable, Equatable {
    /// Contexts at once.
    public var maxContexts: Int
    /// Resources at once.
    public var maxResources: Int
    /// Regions of guest memory at once (`GuestMemory.regionLimit` of the memory a model makes
    /// itself): each holds a descriptor and a mapping of the host's, and the socket emulation's
    /// guest adds one per resource.
    public var maxMemoryRegions: Int
    /// The largest SUBMIT_3D payload (the capset says it).
    public var maxCommandBytes: Int
    /// Fences not yet completed, on all its timelines (each holds an eventfd of the host's).
    public var maxPendingFences: Int
    /// Shares (`export_object`) at once.
    public var maxShares: Int
    /// The largest command ring region (`create_ring`: header and body; the host keeps a
    /// scratch copy of one record, up to the body's size, per ring).
    public var maxRingBytes: Int
    /// How long the guest's ring consumer spins on empty rings before it sleeps.
    public var ringSpinNanoseconds: UInt64
    /// How long `VirtioDeviceModel.close()` waits, in all, for the guest's ring consumer and the
    /// contexts' watcher threads to end before it reports the ones still running and returns.
    public var closeTimeoutNanoseconds: UInt64

    public init(maxContexts: Int = 64, maxResources: Int = 16_384, maxMemoryRegions: Int = GuestMemory.defaultRegionLimit,
                maxCommandBytes: Int = 60_000, maxPendingFences: Int = 1024, maxShares: Int = 16_384, maxRingBytes: Int = 1 << 20,
                ringSpinNanoseconds: UInt64 = 50_000, closeTimeoutNanoseconds: UInt64 = 5_000_000_000) {
        self.maxContexts = maxContexts
        self.maxResources = maxResources
        self.maxMemoryRegions = maxMemoryRegions
        self.maxCommandBytes = maxCommandBytes
        self.maxPendingFences = maxPendingFences
        self.maxShares = maxShares
        self.maxRingBytes = maxRingBytes
        self.ringSpinNanoseconds = ringSpinNanoseconds
        self.closeTimeoutNanoseconds = closeTimeoutNanoseconds
    }
}

/// A control command's outcome: the response's bytes and, for an accepted fenced command, an
/// eventfd signaled once its fence completes.
public struct VirtioControlResult: Sendable {
    /// The response, as the virtio spec lays it out.
    public let response: [UInt8]
    /// Signaled when the fence completes; nil for error responses and unfenced commands.
    public let completion: EventSemaphore?
}

/// The virtio-gpu device model of ONE guest, for Magma contexts (capset 7): its guest memory,
/// its resources and contexts, and its fence timelines. Control commands become calls on a
/// host Magma `Device` (any backend). It holds no global state: two models in one process (two
/// VMs) share nothing but the host device. Nothing a guest sends can crash the host: bad
/// commands get the spec's error responses, bad context commands fail that context (sticky).
///
/// Commands are applied one at a time (`perform` takes the model's lock), as a device reads its
/// control queue; fences complete from each context's watcher thread.
public final class VirtioDeviceModel: Sendable {
    /// The guest's physical memory (its regions are added by the transport).
    public let memory: GuestMemory
    /// The limits it enforces.
    public let limits: VirtioDeviceLimits
    let device: Device
    private let capset: [UInt8]
    private let timelines = FenceTimelines()
    let state = Locked(ModelState())
    let rings: HostRingConsumer
    /// What the guest's contexts have shared with each other; no other guest's model holds it.
    let shares: ShareTable
    /// Runs on a context's watcher thread as it ends (tests hold a thread here).
    private let watcherExit: (@Sendable () -> Void)?

    struct ModelState {
        var resources: [UInt32: VirtioResource] = [:]
        var contexts: [UInt32: HostContext] = [:]
        var closed = false
    }

    /// A model serving `device` to one guest whose memory is `memory` (by default an empty
    /// table of at most `limits.maxMemoryRegions` regions).
    public convenience init(device: Device, memory: GuestMemory? = nil, limits: VirtioDeviceLimits = VirtioDeviceLimits()) throws(MagmaError) {
        try self.init(device: device, memory: memory, limits: limits, watcherExit: nil)
    }

    /// A model whose watcher threads run `watcherExit` as they end (for tests of `close()`'s bound).
    init(device: Device, memory: GuestMemory? = nil, limits: VirtioDeviceLimits = VirtioDeviceLimits(),
         watcherExit: (@Sendable () -> Void)?) throws(MagmaError) {
        self.watcherExit = watcherExit
        self.device = device
        self.memory = memory ?? GuestMemory(regionLimit: limits.maxMemoryRegions)
        self.limits = limits
        shares = ShareTable(limit: limits.maxShares)
        rings = try HostRingConsumer(spinNanoseconds: limits.ringSpinNanoseconds, name: "virtio.rings")
        let info = try device.physicalDeviceInfo()
        do {
            capset = try VirtioMagmaCapset(
                protocolVersion: UInt32(VirtioContextProtocol.CreateBuffer.version),
                syncCapabilities: [.binarySemaphores, .cpuSignal, .cpuWait, .failureFence, .timelines],
                maxCommandBytes: UInt32(limits.maxCommandBytes), devices: [info]).encoded()
        } catch { throw .internalError("capset: \(error)") }
    }

    deinit { close() }

    /// Applies one control command and answers it.
    public func perform(_ bytes: [UInt8]) -> VirtioControlResult {
        let header: VirtioGPU.ControlHeader
        let command: VirtioGPU.Command
        do { (header, command) = try VirtioGPU.decodeCommand(bytes) } catch {
            return Self.error(.errorInvalidParameter, to: (try? VirtioGPU.decodeHeader(bytes)) ?? VirtioGPU.ControlHeader(type: 0))
        }
        var fence: Fence?
        if header.isFenced {
            let key: FenceTimelineKey
            if header.flags & VirtioGPU.flagInfoRingIndex != 0 {
                guard Int(header.ringIndex) < VirtioGPU.maxRings else { return Self.error(.errorInvalidParameter, to: header) }
                key = FenceTimelineKey(contextId: header.contextId, ring: header.ringIndex)
            } else {
                key = .global
            }
            do { fence = try timelines.enqueue(key: key, limit: limits.maxPendingFences) } catch {
                return Self.error(.errorOutOfMemory, to: header)
            }
            guard fence != nil else { return Self.error(.errorOutOfMemory, to: header) }
        }
        let response = state.withLock { state in perform(header, command, fence: fence, &state) }
        var answer = VirtioGPU.ControlHeader(type: 0, flags: header.flags & (VirtioGPU.flagFence | VirtioGPU.flagInfoRingIndex),
                                             fenceId: header.fenceId, contextId: header.contextId, ringIndex: header.ringIndex)
        if case .error = response {
            if let fence { timelines.done(fence) }
            answer.flags = 0
            answer.fenceId = 0
            return VirtioControlResult(response: VirtioGPU.encode(answer, response), completion: nil)
        }
        // Every command but SUBMIT_3D is processed completely here, so its fence's work is done.
        if let fence, !command.isSubmit { timelines.done(fence) }
        return VirtioControlResult(response: VirtioGPU.encode(answer, response), completion: fence?.completion)
    }

    /// The guest has gone: every context closes (its pending fences complete with
    /// CONNECTION_LOST, its host connection releases what it held) and every resource is
    /// dropped. Later commands are answered ERR_UNSPEC. It waits for the guest's ring consumer
    /// and the contexts' watcher threads to end, at most `limits.closeTimeoutNanoseconds` in all;
    /// past that it writes a line to standard error and returns how many still run (they hold
    /// only their own context's objects, end on their own once whatever holds them lets go, and
    /// touch nothing of the model). 0 when every thread has ended.
    @discardableResult
    public func close() -> Int {
        let deadline = Deadline(after: limits.closeTimeoutNanoseconds)
        rings.stop()
        let ringsRunning = rings.ended.wait(timeoutNanoseconds: deadline.remainingNanoseconds) ? 0 : 1
        let contexts = state.withLock { state in
            defer {
                state.closed = true
                state.contexts = [:]
                state.resources = [:]
                shares.removeAll()
            }
            return Array(state.contexts.values)
        }
        for context in contexts { context.close(MagmaError(.connectionLost, "the guest has gone")) }
        // Their watcher threads end at once (woken by close); once they have, nothing of the
        // guest is held on the host.
        let running = ringsRunning + contexts.filter { !$0.watcher.ended.wait(timeoutNanoseconds: deadline.remainingNanoseconds) }.count
        if running > 0 {
            let line = "magma-virtio-host: close: \(running) ring consumer or fence watcher thread(s) still running after "
                + "\(limits.closeTimeoutNanoseconds / 1_000_000) ms; returning without them\n"
            _ = line.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
        }
        return running
    }

    /// What a guest holds: contexts, resources, fences not yet completed.
    public typealias Counts = (contexts: Int, resources: Int, pendingFences: Int)

    /// Contexts and resources the guest holds now (for tests and diagnostics).
    public var counts: Counts {
        let (contexts, resources) = state.withLock { ($0.contexts.count, $0.resources.count) }
        return (contexts, resources, timelines.pendingCount)
    }

    /// Shares (`export_object`) the guest holds now (for tests and diagnostics).
    public var shareCount: Int { state.withLock { _ in shares.count } }

    private func perform(_ header: VirtioGPU.ControlHeader, _ command: VirtioGPU.Command, fence: Fence?,
                         _ state: inout ModelState) -> VirtioGPU.Response {
        if state.closed { return .error(.errorUnspecified) }
        switch command {
        case .getCapsetInfo(let index):
            guard index == 0 else { return .error(.errorInvalidParameter) }
            return .okCapsetInfo(id: VirtioGPU.magmaCapsetId, maxVersion: VirtioMagmaCapset.version, maxSize: UInt32(capset.count))
        case .getCapset(let id, let version):
            guard id == VirtioGPU.magmaCapsetId, version <= VirtioMagmaCapset.version else { return .error(.errorInvalidParameter) }
            return .okCapset(data: capset)
        case .contextCreate(let contextInit, _):
            let capsetId = contextInit & VirtioGPU.contextInitCapsetMask
            guard capsetId == 0 || capsetId == VirtioGPU.magmaCapsetId, contextInit & ~VirtioGPU.contextInitCapsetMask == 0 else {
                return .error(.errorInvalidParameter)
            }
            guard header.contextId != 0, state.contexts[header.contextId] == nil else { return .error(.errorInvalidContextId) }
            guard state.contexts.count < limits.maxContexts else { return .error(.errorOutOfMemory) }
            do {
                state.contexts[header.contextId] = try HostContext(id: header.contextId, device: device, timelines: timelines,
                                                                   watcherExit: watcherExit)
            } catch {
                return .error(.errorUnspecified)
            }
            return .okNoData
        case .contextDestroy:
            guard let context = state.contexts.removeValue(forKey: header.contextId) else { return .error(.errorInvalidContextId) }
            for resource in state.resources.values { resource.contexts.remove(header.contextId) }
            shares.drop(context: header.contextId)
            context.close(.badState("context \(header.contextId) was destroyed"))
            return .okNoData
        case .contextAttachResource(let id), .contextDetachResource(let id):
            guard state.contexts[header.contextId] != nil else { return .error(.errorInvalidContextId) }
            guard let resource = state.resources[id] else { return .error(.errorInvalidResourceId) }
            if case .contextAttachResource = command {
                resource.contexts.insert(header.contextId)
            } else {
                resource.contexts.remove(header.contextId)
                state.contexts[header.contextId]?.dropRings(inResource: id, "detached from the context")
            }
            return .okNoData
        case .resourceCreate3D(let r):
            guard r.resourceId != 0, state.resources[r.resourceId] == nil else { return .error(.errorInvalidResourceId) }
            guard r.target == VirtioGPU.pipeBufferTarget, r.height == 1, r.depth == 1, r.arraySize == 1, r.lastLevel == 0,
                  r.sampleCount <= 1, r.width > 0, Int(r.width) % SharedMemory.pageSize == 0 else {
                return .error(.errorInvalidParameter)
            }
            guard state.resources.count < limits.maxResources else { return .error(.errorOutOfMemory) }
            state.resources[r.resourceId] = VirtioResource(id: r.resourceId, size: Int(r.width))
            return .okNoData
        case .resourceCreateBlob(let blob):
            // Guest memory only: a host-memory blob (HOST3D*) is mapped into the guest through
            // the device's shared-memory region, which the socket emulation does not offer.
            guard blob.resourceId != 0, state.resources[blob.resourceId] == nil else { return .error(.errorInvalidResourceId) }
            guard blob.memory == VirtioGPU.Blob.memoryGuest, blob.blobId == 0, blob.size > 0, blob.size <= UInt64(Int32.max),
                  Int(blob.size) % SharedMemory.pageSize == 0 else {
                return .error(.errorInvalidParameter)
            }
            guard state.resources.count < limits.maxResources else { return .error(.errorOutOfMemory) }
            let resource = VirtioResource(id: blob.resourceId, size: Int(blob.size))
            guard let pages = backing(blob.entries, size: resource.size) else { return .error(.errorInvalidParameter) }
            resource.backing = pages
            state.resources[blob.resourceId] = resource
            return .okNoData
        case .resourceAttachBacking(let id, let entries):
            guard let resource = state.resources[id] else { return .error(.errorInvalidResourceId) }
            guard resource.backing == nil else { return .error(.errorInvalidParameter) }
            guard let pages = backing(entries, size: resource.size) else { return .error(.errorInvalidParameter) }
            resource.backing = pages
            return .okNoData
        case .resourceDetachBacking(let id):
            guard let resource = state.resources[id] else { return .error(.errorInvalidResourceId) }
            resource.backing = nil
            for context in state.contexts.values { context.dropRings(inResource: id, "detached from its backing") }
            return .okNoData
        case .resourceUnref(let id):
            guard state.resources.removeValue(forKey: id) != nil else { return .error(.errorInvalidResourceId) }
            for context in state.contexts.values { context.dropRings(inResource: id, "unreferenced") }
            return .okNoData
        case .submit3D(let payload):
            guard let context = state.contexts[header.contextId] else { return .error(.errorInvalidContextId) }
            return submit(payload, on: context, fence: fence, state: state)
        case .unsupported:
            return .error(.errorUnspecified)
        }
    }

    /// The guest pages `entries` name, as one view, if they are valid guest memory of exactly `size` bytes.
    private func backing(_ entries: [VirtioGPU.MemoryEntry], size: Int) -> GuestPages? {
        guard let pages = try? memory.pages(for: entries.map { GuestMemoryEntry(address: $0.address, length: $0.length) }),
              pages.size == size else { return nil }
        return pages
    }

    /// Applies a SUBMIT_3D's context commands in order. A malformed payload or a command the
    /// host refuses fails the context (sticky, what every later command and waiter sees); once
    /// it has failed, commands are not applied and calls are answered with its error. The
    /// SUBMIT_3D itself is answered OK, as the device did read it.
    private func submit(_ payload: [UInt8], on context: HostContext, fence: Fence?, state: ModelState) -> VirtioGPU.Response {
        let resources = state.resources
        guard payload.count <= limits.maxCommandBytes else { return .error(.errorInvalidParameter) }
        let (commands, splitError) = VirtioContextCommand.split(payload)
        if fence == nil, commands.contains(where: { $0.needsFence }) { return .error(.errorInvalidParameter) }
        // What the guest's rings hold was written before this SUBMIT_3D: it goes first, as the
        // unfenced records it is (their work is no part of this SUBMIT_3D's fence: a fence that
        // waited for it would wait for work queued behind semaphores the guest signals later).
        // Every context's, not only this one's: a semaphore another context of the guest
        // signaled before this call (an import of it here) must be seen signaled by it.
        var ringScope = CommandScope(resources: resources, device: device, shares: shares, pending: nil,
                                     ringSleeper: rings.wakeup, maxRingBytes: limits.maxRingBytes)
        for other in state.contexts.values where !other.rings.isEmpty { other.drainRings(&ringScope) }
        var scope = CommandScope(resources: resources, device: device, shares: shares, pending: fence.map { PendingFence(fence: $0) },
                                 ringSleeper: rings.wakeup, maxRingBytes: limits.maxRingBytes)
        for command in commands {
            if let error = context.connection.error {
                context.answerFailed(command, error, &scope)
                continue
            }
            do { try context.apply(command, &scope) } catch { context.connection.fail(error) }
        }
        if let splitError, context.connection.error == nil { context.connection.fail(.invalidArgs("SUBMIT_3D payload: \(splitError)")) }
        if let pending = scope.pending {
            if let read = scope.notificationRead {
                // The read's fence is its own: nothing else of the payload may wait on it.
                if pending.waitsForAnything, context.connection.error == nil {
                    context.connection.fail(.invalidArgs("read_notification shares its SUBMIT_3D with a wait"))
                }
                if pending.waitsForAnything { context.watcher.add(pending) } else {
                    context.watcher.addRead(NotificationRead(fence: pending.fence, reply: read.reply, isSync: read.isSync))
                }
            } else {
                context.watcher.add(pending)
            }
        }
        if !context.rings.isEmpty { startRings(for: context) }
        return .okNoData
    }

    private static func error(_ type: VirtioGPU.ControlType, to header: VirtioGPU.ControlHeader) -> VirtioControlResult {
        let answer = VirtioGPU.ControlHeader(type: 0, contextId: header.contextId)
        return VirtioControlResult(response: VirtioGPU.encode(answer, .error(type)), completion: nil)
    }
}

extension VirtioGPU.Command {
    /// Whether it is a SUBMIT_3D (whose fence is done when the work it submitted is).
    var isSubmit: Bool {
        if case .submit3D = self { true } else { false }
    }
}

extension VirtioContextCommand {
    /// Whether the command's reply is written when its fence completes (so it needs one).
    var needsFence: Bool {
        switch self {
        case .virtio(.waitSemaphores), .virtio(.watchFailure), .virtio(.waitTimeline), .virtio(.readNotification),
             .virtio(.syncNotifications): true
        default: false
        }
    }
}
