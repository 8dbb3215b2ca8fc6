import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaWire
import SystemPackage

/// The virtgpu ioctl surface over the socket emulation (protocol `virtio_socket`), doing what
/// the guest kernel's virtio-gpu driver does for one open file: one context of its guest
/// (`VirtGPUSocketGuest`), with a fresh context id from the guest's counter; CONTEXT_INIT sends
/// its CTX_CREATE. Each resource is a memfd of its own at guest addresses from the guest's
/// allocator, added as a region of guest memory, then RESOURCE_CREATE_3D + ATTACH_BACKING +
/// CTX_ATTACH_RESOURCE; SUBMIT_3D with fences on rings, and each fence's eventfd for WAIT.
/// PRIME export is a duplicate of the resource's memfd (mapping it maps the resource's bytes,
/// as a virtio-gpu dma-buf does), and import of one by another open of the guest attaches that
/// resource to its context too (unreferenced once neither holds it). Closing it (or its end)
/// sends CTX_DESTROY and RESOURCE_UNREF of each resource only it still holds (their regions
/// removed, their addresses back to the guest); the guest's socket closes with its last device.
public final class VirtGPUSocketDevice: VirtGPUDevice {
    /// Guest memory for the resources of a private guest (`init(path:)`) unless told otherwise.
    public static let defaultMemoryBytes = VirtGPUSocketGuest.defaultMemoryBytes

    /// The guest it is an open of.
    public let guest: VirtGPUSocketGuest
    /// Its context's id, unique among the guest's devices.
    public let contextId: UInt32
    private let state = Locked(State())

    private struct State {
        var nextFence: [UInt8: UInt64] = [:]
        var ringCount = 0
        var hasContext = false
        var closed = false
        /// The resources it holds, each with how many times (made once, imported again).
        var resources: [UInt32: Held] = [:]
    }

    private struct Held {
        let resource: SocketResource
        var count: Int
    }

    /// A new open of `guest`: a context id of its own (the context is made by CONTEXT_INIT).
    public init(guest: VirtGPUSocketGuest) throws(MagmaError) {
        self.guest = guest
        contextId = try guest.openDevice()
    }

    /// An open of a guest of its own at `path` (its own socket and `memoryBytes` of guest memory for resources); a
    /// control command the host does not answer within `callTimeoutNanoseconds` is TIMED_OUT.
    public convenience init(path: String, memoryBytes: Int = VirtGPUSocketDevice.defaultMemoryBytes,
                            callTimeoutNanoseconds: UInt64 = 30_000_000_000, contextInit: Bool = true) throws(MagmaError) {
        try self.init(guest: VirtGPUSocketGuest(path: path, memoryBytes: memoryBytes, callTimeoutNanoseconds: callTimeoutNanoseconds,
                                                contextInit: contextInit))
    }

    deinit { close() }

    public func parameter(_ param: VirtGPUParam) throws(MagmaError) -> UInt64 {
        switch param {
        case .features3D, .capsetQueryFix: return 1
        case .contextInit: return guest.offersContextInit ? 1 : 0
        case .resourceBlob, .hostVisible, .crossDevice: return 0
        case .supportedCapsetIds:
            var mask: UInt64 = 0
            var index: UInt32 = 0
            while case .okCapsetInfo(let id, _, _) = try control(.getCapsetInfo(index: index)).0 {
                if id < 64 { mask |= 1 << UInt64(id) }
                index += 1
            }
            return mask
        }
    }

    public func capset(id: UInt32, version: UInt32) throws(MagmaError) -> [UInt8] {
        let (response, _) = try control(.getCapset(id: id, version: version))
        guard case .okCapset(let data) = response else { throw Self.error(response, "GET_CAPS \(id)") }
        return data
    }

    public func initializeContext(capsetId: UInt32, ringCount: Int) throws(MagmaError) {
        guard (1...VirtioGPU.maxRings).contains(ringCount) else { throw .invalidArgs("\(ringCount) rings: 1...\(VirtioGPU.maxRings)") }
        guard !state.withLock({ $0.hasContext }) else { throw .badState("CONTEXT_INIT: the context exists") }
        // Without CONTEXT_INIT the kernel makes a context of capset 0 with one fence timeline.
        guard guest.offersContextInit || ringCount == 1 else {
            throw .unimplemented("this virtio-gpu device offers no CONTEXT_INIT: one fence timeline, not \(ringCount) rings")
        }
        let capset = guest.offersContextInit ? capsetId & VirtioGPU.contextInitCapsetMask : 0
        let (response, _) = try control(.contextCreate(contextInit: capset, debugName: Array("magma".utf8)), context: contextId)
        guard response == .okNoData else { throw Self.error(response, "CONTEXT_INIT") }
        state.withLock { state in
            state.hasContext = true
            state.ringCount = ringCount
        }
    }

    public func createResource(size: Int) throws(MagmaError) -> any VirtGPUResource {
        let page = SharedMemory.pageSize
        guard size > 0, size <= Int(UInt32.max) - page else { throw .invalidArgs("resource of \(size) bytes") }
        let pages = (size + page - 1) / page
        guard state.withLock({ $0.hasContext }) else { throw .badState("RESOURCE_CREATE before CONTEXT_INIT") }
        let (first, id) = try guest.allocate(pages: pages)
        // Memory of its own, zeroed and without backing (as a new GEM object's pages are),
        // shared with the host as a region of guest memory at the addresses just taken.
        let resource: SocketResource
        do {
            resource = try SocketResource(resourceId: id, firstPage: first, memory: SharedMemory.create(size: pages * page, name: "magma-virtio-resource"))
        } catch {
            guest.release(firstPage: first, count: pages)
            throw MagmaError(.memoryError, "memory of a resource of \(pages * page) bytes: \(error)", systemErrorCode: error.code)
        }
        do { try guest.addRegion(firstPage: first, memory: resource.memory) } catch {
            guest.release(firstPage: first, count: pages)
            throw error
        }
        // Recorded unless it closed meanwhile, so `close()` unrefs every resource it made.
        guard state.withLock({ state in
            guard !state.closed else { return false }
            state.resources[id] = Held(resource: resource, count: 1)
            return true
        }) else {
            guest.unregister(resource)
            throw Self.closedError
        }
        guest.register(resource)
        do {
            try expectOK(.resourceCreate3D(.buffer(id: id, size: UInt32(pages * page))), "RESOURCE_CREATE")
            try expectOK(.resourceAttachBacking(resourceId: id, entries: [
                VirtioGPU.MemoryEntry(address: UInt64(first * page), length: UInt32(pages * page)),
            ]), "ATTACH_BACKING")
            try expectOK(.contextAttachResource(resourceId: id), "CTX_ATTACH_RESOURCE", context: contextId)
        } catch {
            try? release(resource)
            throw error
        }
        return resource
    }

    public func release(_ resource: any VirtGPUResource) throws(MagmaError) {
        guard let resource = resource as? SocketResource else { throw .invalidArgs("not a resource of this device") }
        let remaining = state.withLock { state -> Int? in
            guard var held = state.resources[resource.resourceId], held.resource === resource else { return nil }
            held.count -= 1
            state.resources[resource.resourceId] = held.count == 0 ? nil : held
            return held.count
        }
        guard let remaining else { throw .invalidArgs("not a live resource of this device") }
        guard remaining == 0 else { return }
        if resource.drop() { return try unref(resource) }
        // Another open still holds it: this context no longer names it.
        let (response, _) = try control(.contextDetachResource(resourceId: resource.resourceId), context: contextId)
        guard response == .okNoData else { throw Self.error(response, "CTX_DETACH_RESOURCE") }
    }

    public func exportResource(_ resource: any VirtGPUResource) throws(MagmaError) -> OwnedFileDescriptor {
        guard let resource = resource as? SocketResource,
              state.withLock({ $0.resources[resource.resourceId]?.resource === resource }) else {
            throw .invalidArgs("not a live resource of this device")
        }
        guard let memfd = resource.memory.descriptor else { throw .internalError("resource \(resource.resourceId) without a memfd") }
        do { return try memfd.duplicate() } catch {
            throw MagmaError(.memoryError, "PRIME export: \(error)", systemErrorCode: error.code)
        }
    }

    /// The resource whose memory `descriptor` (taken) is, a live resource of this guest; INVALID_ARGS
    /// for anything else (another guest's resource, a released one, any other descriptor).
    public func importResource(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> any VirtGPUResource {
        let released = MagmaError.invalidArgs(
            "not the memory of a live resource of this virtio guest (one of another virtio guest, a released one, or no resource's): objects never cross guests")
        guard let resource = guest.resource(identifiedBy: descriptor.fileDescriptor) else { throw released }
        let resourceId = resource.resourceId
        if hold(resource, again: true) { return resource }
        guard resource.hold() else { throw released }
        do {
            try expectOK(.contextAttachResource(resourceId: resourceId), "CTX_ATTACH_RESOURCE", context: contextId)
        } catch {
            if resource.drop() { try? unref(resource) }
            throw error
        }
        guard hold(resource, again: false) else {
            if resource.drop() { try? unref(resource) }
            throw Self.closedError
        }
        return resource
    }

    /// Records one more hold of `resource`: with `again`, only if it already holds it; without,
    /// as a new one (merged if another import got there first, whose guest hold suffices).
    /// False if it holds none (`again`) or it has closed.
    private func hold(_ resource: SocketResource, again: Bool) -> Bool {
        let outcome = state.withLock { state -> (held: Bool, merged: Bool) in
            guard !state.closed else { return (false, false) }
            if var held = state.resources[resource.resourceId] {
                held.count += 1
                state.resources[resource.resourceId] = held
                return (true, !again)
            }
            guard !again else { return (false, false) }
            state.resources[resource.resourceId] = Held(resource: resource, count: 1)
            return (true, false)
        }
        if outcome.merged { _ = resource.drop() }
        return outcome.held
    }

    public func submit(_ commands: [UInt8], fenceOnRing ring: UInt8?) throws(MagmaError) -> (any VirtGPUFence)? {
        var header = VirtioGPU.ControlHeader(type: 0, contextId: contextId)
        if let ring, !guest.offersContextInit {
            // One timeline for the whole device: no ring index, the guest's one fence counter.
            guard Int(ring) < state.withLock({ $0.ringCount }) else { throw .invalidArgs("ring \(ring) of 1") }
            header.flags = VirtioGPU.flagFence
            header.fenceId = guest.takeGlobalFenceId()
        } else if let ring {
            let fenceId = try state.withLock { state throws(MagmaError) -> UInt64 in
                guard Int(ring) < state.ringCount else { throw .invalidArgs("ring \(ring) of \(state.ringCount)") }
                let next = state.nextFence[ring, default: 0] + 1
                state.nextFence[ring] = next
                return next
            }
            header.flags = VirtioGPU.flagFence | VirtioGPU.flagInfoRingIndex
            header.fenceId = fenceId
            header.ringIndex = ring
        }
        let (response, completion) = try control(header, .submit3D(commands: commands))
        guard response == .okNoData else { throw Self.error(response, "EXECBUFFER") }
        guard ring != nil else { return nil }
        guard let completion else { throw .internalError("EXECBUFFER: the host sent no fence") }
        return SocketFence(completion: completion)
    }

    /// Polls the fence beside the socket's hang-up, so a host that has gone ends the wait
    /// (false) instead of leaving it to the timeout.
    /// True: the host answers a control command once it has applied it.
    public var appliesSubmissionsOnReturn: Bool { true }

    /// The fence rings CONTEXT_INIT made (1 without CONTEXT_INIT); 0 before it.
    public var fenceRingCount: Int { state.withLock { $0.ringCount } }

    public func wait(_ fence: any VirtGPUFence, timeoutNanoseconds: UInt64) -> Bool {
        let requests = [PollRequest(descriptor: fence.pollDescriptor), PollRequest(descriptor: hangupDescriptor, events: 0)]
        guard let ready = try? Poller.poll(requests, timeoutNanoseconds: timeoutNanoseconds) else { return false }
        return ready[0]
    }

    /// Polls POLLHUP (with no events asked for) once the host has closed the guest's socket or gone.
    var hangupDescriptor: FileDescriptor { guest.hangupDescriptor }

    /// Ends the open: CTX_DESTROY (the host closes the context's connection; its pending fences
    /// complete), RESOURCE_UNREF of every resource it still has, and the guest's socket closes
    /// if it was the guest's last device. Later calls are CONNECTION_LOST.
    public func close() {
        let open = state.withLock { state -> (resources: [SocketResource], hadContext: Bool)? in
            guard !state.closed else { return nil }
            state.closed = true
            defer { state.resources = [:] }
            return (state.resources.values.map(\.resource), state.hasContext)
        }
        guard let (resources, hadContext) = open else { return }
        if hadContext { _ = try? guest.control(VirtioGPU.ControlHeader(type: 0, contextId: contextId), .contextDestroy) }
        // The context is gone, so it names none of them; the ones only it held are unreferenced.
        for resource in resources where resource.drop() { try? unref(resource) }
        guest.closeDevice()
    }

    /// Pages of the guest's memory free for resources.
    public var freePages: Int { guest.freePages }

    // MARK: The socket

    private static let closedError = MagmaError(.connectionLost, "the virtio device was closed")

    /// RESOURCE_UNREF; its region is removed and its addresses go back to the guest whatever the host says.
    private func unref(_ resource: SocketResource) throws(MagmaError) {
        defer { guest.unregister(resource) }
        let (response, _) = try guest.control(VirtioGPU.ControlHeader(type: 0), .resourceUnref(resourceId: resource.resourceId))
        guard response == .okNoData || response == .error(.errorInvalidResourceId) else { throw Self.error(response, "RESOURCE_UNREF") }
    }

    private func expectOK(_ command: VirtioGPU.Command, _ what: String, context: UInt32 = 0) throws(MagmaError) {
        let (response, _) = try control(.init(type: 0, contextId: context), command)
        guard response == .okNoData else { throw Self.error(response, what) }
    }

    private func control(_ command: VirtioGPU.Command, context: UInt32 = 0) throws(MagmaError) -> (VirtioGPU.Response, EventSemaphore?) {
        try control(VirtioGPU.ControlHeader(type: 0, contextId: context), command)
    }

    /// A control command of this open; CONNECTION_LOST once it has closed.
    private func control(_ header: VirtioGPU.ControlHeader, _ command: VirtioGPU.Command) throws(MagmaError) -> (VirtioGPU.Response, EventSemaphore?) {
        guard !state.withLock({ $0.closed }) else { throw Self.closedError }
        return try guest.control(header, command)
    }

    private static func error(_ response: VirtioGPU.Response, _ what: String) -> MagmaError {
        guard case .error(let type) = response else { return .internalError("\(what): unexpected \(response)") }
        switch type {
        case .errorOutOfMemory: return .memoryError("\(what): ERR_OUT_OF_MEMORY")
        case .errorInvalidParameter, .errorInvalidResourceId, .errorInvalidContextId, .errorInvalidScanoutId:
            return .invalidArgs("\(what): \(type)")
        default: return .internalError("\(what): \(type)")
        }
    }
}

/// A resource of `VirtGPUSocketDevice`: a size-sealed memfd of its own (the region of guest
/// memory at `firstPage`, which the host maps too), mapped here, held by the opens of the guest
/// that made or imported it.
final class SocketResource: VirtGPUResource, @unchecked Sendable {
    let resourceId: UInt32
    /// Its first page of guest physical addresses (its region's address, in pages).
    let firstPage: Int
    /// Its pages: the memfd the host maps as its region and PRIME export duplicates.
    let memory: SharedMemory
    /// The memfd's file, by which PRIME import knows an exported descriptor.
    let file: FileIdentity
    /// How many opens of the guest hold it; unreferenced at 0, never held again.
    private let holders = Locked(1)

    init(resourceId: UInt32, firstPage: Int, memory: SharedMemory) throws(PlatformError) {
        guard let memfd = memory.descriptor else { throw PlatformError(call: "resource memory without a memfd", errno: .invalidArgument) }
        self.resourceId = resourceId
        self.firstPage = firstPage
        self.memory = memory
        file = try FileIdentity(of: memfd.fileDescriptor)
    }

    var size: Int { memory.size }
    var pages: Int { memory.size / SharedMemory.pageSize }
    var mapping: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: memory.base, count: memory.size) }

    /// Gives a range backing pages (fallocate on its memfd, which the host maps too, then a
    /// write fault of each, so they count as resident), keeping what they hold.
    func commit(offset: Int, length: Int) throws(MagmaError) {
        do {
            try memory.commit(offset: offset, length: length)
            try memory.populate(offset: offset, length: length)
        } catch {
            throw MagmaError(.memoryError, "commit of resource \(resourceId) \(offset)+\(length): \(error)", systemErrorCode: error.code)
        }
    }

    /// Discards a range and releases its pages (a hole punched in its memfd: the host's mapping
    /// of it reads zeros too).
    func decommit(offset: Int, length: Int) throws(MagmaError) {
        do { try memory.decommit(offset: offset, length: length) } catch {
            throw MagmaError(.internalError, "decommit of resource \(resourceId) \(offset)+\(length): \(error)", systemErrorCode: error.code)
        }
    }

    /// Bytes that have backing pages now (0 if the memfd cannot say).
    var committedBytes: Int { (try? memory.committedBytes(offset: 0, length: size)) ?? 0 }

    /// One more open holds it; false once it is unreferenced.
    func hold() -> Bool {
        holders.withLock { holders in
            guard holders > 0 else { return false }
            holders += 1
            return true
        }
    }

    /// An open lets it go; true for the last (it is then to be unreferenced).
    func drop() -> Bool { holders.withLock { holders in holders -= 1; return holders == 0 } }
}

/// A fence of `VirtGPUSocketDevice`: the eventfd the host signals when it completes.
struct SocketFence: VirtGPUFence {
    let completion: EventSemaphore
    var pollDescriptor: FileDescriptor { completion.descriptor.fileDescriptor }
}
