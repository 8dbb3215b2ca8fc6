import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaWire

/// The virtgpu ioctl surface over the socket emulation (protocol `virtio_socket`), doing what
/// the guest kernel's virtio-gpu driver does for one open file: one context of its guest
/// (`VirtGPUSocketGuest`), with a fresh context id from the guest's counter; CONTEXT_INIT sends
/// its CTX_CREATE. It allocates each resource's pages from the guest's RAM and sends
/// RESOURCE_CREATE_3D + ATTACH_BACKING + CTX_ATTACH_RESOURCE, SUBMIT_3D with fences on rings,
/// and hands back each fence's eventfd for WAIT. Closing it (or its end) sends CTX_DESTROY
/// and RESOURCE_UNREF of each resource it still has (their pages go back to the guest); the
/// guest's socket closes with its last device.
public final class VirtGPUSocketDevice: VirtGPUDevice {
    /// Guest RAM of a private guest (`init(path:)`) unless told otherwise.
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
        var resources: [UInt32: SocketResource] = [:]
    }

    /// A new open of `guest`: a context id of its own (the context is made by CONTEXT_INIT).
    public init(guest: VirtGPUSocketGuest) throws(MagmaError) {
        self.guest = guest
        contextId = try guest.openDevice()
    }

    /// An open of a guest of its own at `path` (its own socket and `memoryBytes` of RAM); a
    /// control command the host does not answer within `callTimeoutNanoseconds` is TIMED_OUT.
    public convenience init(path: String, memoryBytes: Int = VirtGPUSocketDevice.defaultMemoryBytes,
                            callTimeoutNanoseconds: UInt64 = 30_000_000_000) throws(MagmaError) {
        try self.init(guest: VirtGPUSocketGuest(path: path, memoryBytes: memoryBytes, callTimeoutNanoseconds: callTimeoutNanoseconds))
    }

    deinit { close() }

    public func parameter(_ param: VirtGPUParam) throws(MagmaError) -> UInt64 {
        switch param {
        case .features3D, .capsetQueryFix, .contextInit: return 1
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
        let (response, _) = try control(.contextCreate(contextInit: capsetId & VirtioGPU.contextInitCapsetMask, debugName: Array("magma".utf8)),
                                        context: contextId)
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
        let resource = SocketResource(resourceId: id, firstPage: first, pages: pages, guest: guest,
                                      mapping: UnsafeMutableRawBufferPointer(rebasing: guest.ramBytes[(first * page)..<((first + pages) * page)]))
        // Recorded unless it closed meanwhile, so `close()` unrefs every resource it made.
        guard state.withLock({ state in
            guard !state.closed else { return false }
            state.resources[id] = resource
            return true
        }) else {
            guest.release(firstPage: first, count: pages)
            throw Self.closedError
        }
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
        guard let resource = resource as? SocketResource,
              state.withLock({ $0.resources.removeValue(forKey: resource.resourceId) }) === resource else {
            throw .invalidArgs("not a live resource of this device")
        }
        try unref(resource)
    }

    public func submit(_ commands: [UInt8], fenceOnRing ring: UInt8?) throws(MagmaError) -> (any VirtGPUFence)? {
        var header = VirtioGPU.ControlHeader(type: 0, contextId: contextId)
        if let ring {
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
    public func wait(_ fence: any VirtGPUFence, timeoutNanoseconds: UInt64) -> Bool {
        let requests = [PollRequest(descriptor: fence.pollDescriptor), PollRequest(descriptor: hangupDescriptor, events: 0)]
        guard let ready = try? Poller.poll(requests, timeoutNanoseconds: timeoutNanoseconds) else { return false }
        return ready[0]
    }

    /// Polls POLLHUP (with no events asked for) once the host has closed the guest's socket or gone.
    var hangupDescriptor: Int32 { guest.hangupDescriptor }

    /// Ends the open: CTX_DESTROY (the host closes the context's connection; its pending fences
    /// complete), RESOURCE_UNREF of every resource it still has, and the guest's socket closes
    /// if it was the guest's last device. Later calls are CONNECTION_LOST.
    public func close() {
        let open = state.withLock { state -> (resources: [SocketResource], hadContext: Bool)? in
            guard !state.closed else { return nil }
            state.closed = true
            defer { state.resources = [:] }
            return (Array(state.resources.values), state.hasContext)
        }
        guard let (resources, hadContext) = open else { return }
        if hadContext { _ = try? guest.control(VirtioGPU.ControlHeader(type: 0, contextId: contextId), .contextDestroy) }
        for resource in resources { try? unref(resource) }
        guest.closeDevice()
    }

    /// Pages of the guest's RAM free for resources.
    public var freePages: Int { guest.freePages }

    // MARK: The socket

    private static let closedError = MagmaError(.connectionLost, "the virtio device was closed")

    /// RESOURCE_UNREF; the pages go back to the guest whatever the host says.
    private func unref(_ resource: SocketResource) throws(MagmaError) {
        defer { guest.release(firstPage: resource.firstPage, count: resource.pages) }
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

/// A resource of `VirtGPUSocketDevice`: contiguous guest pages, mapped through the guest's RAM
/// (which it keeps mapped).
final class SocketResource: VirtGPUResource, @unchecked Sendable {
    let resourceId: UInt32
    let firstPage: Int
    let pages: Int
    /// Holds the guest's RAM, which `mapping` is a slice of.
    private let guest: VirtGPUSocketGuest
    let mapping: UnsafeMutableRawBufferPointer

    init(resourceId: UInt32, firstPage: Int, pages: Int, guest: VirtGPUSocketGuest, mapping: UnsafeMutableRawBufferPointer) {
        self.resourceId = resourceId
        self.firstPage = firstPage
        self.pages = pages
        self.guest = guest
        self.mapping = mapping
    }

    var size: Int { mapping.count }
}

/// A fence of `VirtGPUSocketDevice`: the eventfd the host signals when it completes.
struct SocketFence: VirtGPUFence {
    let completion: EventSemaphore
    var pollDescriptor: Int32 { completion.descriptor.rawValue }
}
