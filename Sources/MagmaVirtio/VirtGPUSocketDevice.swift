import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaWire

/// The virtgpu ioctl surface over the socket emulation (protocol `virtio_socket`), doing what
/// the guest kernel's virtio-gpu driver does: it makes the guest's RAM (one memfd region at
/// guest address 0, shared with the host at open), allocates each resource's pages from it,
/// sends RESOURCE_CREATE_3D + ATTACH_BACKING + CTX_ATTACH_RESOURCE, SUBMIT_3D with fences on
/// rings, and hands back each fence's eventfd for WAIT. One device is one open file: one
/// context (id 1), as CONTEXT_INIT makes it.
///
/// Control commands are round trips the host answers at once (fences complete separately, by
/// eventfd). Callers take turns on the socket (`channel`'s condition); none holds a lock while
/// it waits for the host, and a host that does not answer within the call timeout is
/// TIMED_OUT, after which the device is unusable (CONNECTION_LOST: a late answer would pair
/// with the wrong call).
public final class VirtGPUSocketDevice: VirtGPUDevice {
    /// Guest RAM made at open unless told otherwise.
    public static let defaultMemoryBytes = 64 << 20
    /// The context id of this device's one context.
    public static let contextId: UInt32 = 1

    private let socket: MessageSocket
    private let ram: SharedMemory
    private let channel = LockedCondition(Channel())
    private let callTimeoutNanoseconds: UInt64
    private let state: Locked<State>

    private struct Channel {
        var transaction: UInt32 = 0
        var lost: MagmaError?
        var busy = false
    }

    private struct State {
        var pages: GuestPageAllocator
        var nextResourceId: UInt32 = 1
        var nextFence: [UInt8: UInt64] = [:]
        var ringCount = 0
        var hasContext = false
    }

    /// Connects to the device model at `path` and shares `memoryBytes` of guest RAM with it; a
    /// control command the host does not answer within `callTimeoutNanoseconds` is TIMED_OUT.
    public init(path: String, memoryBytes: Int = VirtGPUSocketDevice.defaultMemoryBytes,
                callTimeoutNanoseconds: UInt64 = 30_000_000_000) throws(MagmaError) {
        self.callTimeoutNanoseconds = callTimeoutNanoseconds
        do {
            socket = try MessageSocket.connect(path: path)
            ram = try SharedMemory.create(size: memoryBytes, name: "magma-virtio-guest-ram")
        } catch { throw MagmaError(.connectionLost, "virtio device \(path): \(error)", systemErrorCode: error.code) }
        state = Locked(State(pages: GuestPageAllocator(pages: ram.size / SharedMemory.pageSize)))
        guard let memfd = ram.descriptor else { throw .internalError("guest RAM without a descriptor") }
        let (reply, _) = try call(VirtioSocketProtocol.AddMemoryRegion(guestAddress: 0, size: UInt64(ram.size), memory: WireHandle(memfd.rawValue)))
        guard case .memoryRegionReply(let answer) = reply else { throw .internalError("add_memory_region: \(reply)") }
        guard answer.status == .ok else { throw MagmaError(answer.status, "add_memory_region: \(answer.reason)") }
    }

    deinit { socket.shutdown() }

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
                                        context: Self.contextId)
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
        let (first, id) = try state.withLock { state throws(MagmaError) -> (Int, UInt32) in
            guard state.hasContext else { throw .badState("RESOURCE_CREATE before CONTEXT_INIT") }
            guard let first = state.pages.allocate(pages) else { throw .memoryError("guest RAM has no \(pages) free pages in a row") }
            defer { state.nextResourceId &+= 1 }
            return (first, state.nextResourceId)
        }
        let resource = SocketResource(resourceId: id, firstPage: first, pages: pages,
                                      mapping: UnsafeMutableRawBufferPointer(rebasing: ramBytes[(first * page)..<((first + pages) * page)]))
        do {
            try expectOK(.resourceCreate3D(.buffer(id: id, size: UInt32(pages * page))), "RESOURCE_CREATE")
            try expectOK(.resourceAttachBacking(resourceId: id, entries: [
                VirtioGPU.MemoryEntry(address: UInt64(first * page), length: UInt32(pages * page)),
            ]), "ATTACH_BACKING")
            try expectOK(.contextAttachResource(resourceId: id), "CTX_ATTACH_RESOURCE", context: Self.contextId)
        } catch {
            try? release(resource)
            throw error
        }
        return resource
    }

    public func release(_ resource: any VirtGPUResource) throws(MagmaError) {
        guard let resource = resource as? SocketResource, resource.take() else { throw .invalidArgs("not a live resource of this device") }
        defer { state.withLock { $0.pages.release(resource.firstPage, count: resource.pages) } }
        let (response, _) = try control(.resourceUnref(resourceId: resource.resourceId))
        guard response == .okNoData || response == .error(.errorInvalidResourceId) else { throw Self.error(response, "RESOURCE_UNREF") }
    }

    public func submit(_ commands: [UInt8], fenceOnRing ring: UInt8?) throws(MagmaError) -> (any VirtGPUFence)? {
        var header = VirtioGPU.ControlHeader(type: 0, contextId: Self.contextId)
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

    /// Polls POLLHUP (with no events asked for) once the host has closed the socket or gone.
    var hangupDescriptor: Int32 { socket.descriptor.rawValue }

    public func close() { socket.shutdown() }

    /// Pages of guest RAM free for resources.
    public var freePages: Int { state.withLock { $0.pages.freePages } }

    private var ramBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: ram.base, count: ram.size) }

    // MARK: The socket

    private func expectOK(_ command: VirtioGPU.Command, _ what: String, context: UInt32 = 0) throws(MagmaError) {
        let (response, _) = try control(.init(type: 0, contextId: context), command)
        guard response == .okNoData else { throw Self.error(response, what) }
    }

    private func control(_ command: VirtioGPU.Command, context: UInt32 = 0) throws(MagmaError) -> (VirtioGPU.Response, EventSemaphore?) {
        try control(VirtioGPU.ControlHeader(type: 0, contextId: context), command)
    }

    private func control(_ header: VirtioGPU.ControlHeader, _ command: VirtioGPU.Command) throws(MagmaError) -> (VirtioGPU.Response, EventSemaphore?) {
        let (reply, descriptors) = try call(VirtioSocketProtocol.Control(command: VirtioGPU.encode(header, command)))
        guard case .controlResponse(let answer) = reply else { throw .internalError("control: \(reply)") }
        let response: VirtioGPU.Response
        do { response = try VirtioGPU.decodeResponse(answer.response).1 } catch { throw .internalError("control response: \(error)") }
        guard let descriptor = descriptors.first else { return (response, nil) }
        do { return (response, try EventSemaphore(importing: descriptor)) } catch { throw .internalError("fence eventfd: \(error)") }
    }

    /// One round trip, in turn; a broken or silent socket fails every later call.
    private func call<M: WireMessage>(_ message: M) throws(MagmaError) -> (VirtioSocketProtocol.ServerMessage, [OwnedFileDescriptor]) {
        let deadline = Deadline(after: callTimeoutNanoseconds)
        let turn: Result<UInt32, MagmaError>? = channel.wait(until: deadline) { channel in
            if let lost = channel.lost { return .failure(lost) }
            guard !channel.busy else { return nil }
            channel.busy = true
            channel.transaction = channel.transaction == .max ? 1 : channel.transaction + 1
            return .success(channel.transaction)
        }
        guard let turn else { throw MagmaError(.timedOut, "virtio device: no turn on the socket within the call timeout") }
        let transaction = try turn.get()
        let outcome = Result { () throws(MagmaError) in try roundTrip(message, transaction: transaction, deadline: deadline) }
        channel.withLock { channel in
            channel.busy = false
            if case .failure(let error) = outcome, channel.lost == nil {
                channel.lost = error.status == .timedOut ? MagmaError(.connectionLost, "the virtio host did not answer in time") : error
            }
        }
        channel.broadcast()
        return try outcome.get()
    }

    private func roundTrip<M: WireMessage>(_ message: M, transaction: UInt32, deadline: Deadline) throws(MagmaError)
        -> (VirtioSocketProtocol.ServerMessage, [OwnedFileDescriptor]) {
        do {
            let encoded = try message.encoded(transactionId: transaction)
            try socket.send(encoded.bytes, descriptors: encoded.handles.map(\.descriptor))
            guard socket.waitReadable(until: deadline) else { throw MagmaError(.timedOut, "the virtio host did not answer in time") }
            guard case .message(let bytes, let descriptors, false)? = try socket.receive(capacity: ProtocolLimits.maxMessageBytes) else {
                throw MagmaError(.connectionLost, "the virtio host closed the socket")
            }
            let received = try VirtioSocketProtocol.ServerMessage.decode(bytes: bytes, handles: descriptors.map { WireHandle($0.rawValue) })
            guard received.header.transactionId == transaction, received.unclaimedHandles.isEmpty else {
                throw MagmaError(.connectionLost, "the virtio host answered out of order")
            }
            return (received.message, descriptors)
        } catch let error as MagmaError {
            throw error
        } catch {
            throw MagmaError(.connectionLost, "virtio socket: \(error)")
        }
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

/// A resource of `VirtGPUSocketDevice`: contiguous guest pages, mapped through the guest's RAM.
final class SocketResource: VirtGPUResource, @unchecked Sendable {
    let resourceId: UInt32
    let firstPage: Int
    let pages: Int
    let mapping: UnsafeMutableRawBufferPointer
    private let live = Locked(true)

    init(resourceId: UInt32, firstPage: Int, pages: Int, mapping: UnsafeMutableRawBufferPointer) {
        self.resourceId = resourceId
        self.firstPage = firstPage
        self.pages = pages
        self.mapping = mapping
    }

    var size: Int { mapping.count }

    /// Marks it released; false if it already was.
    func take() -> Bool { live.withLock { live in defer { live = false }; return live } }
}

/// A fence of `VirtGPUSocketDevice`: the eventfd the host signals when it completes.
struct SocketFence: VirtGPUFence {
    let completion: EventSemaphore
    var pollDescriptor: Int32 { completion.descriptor.rawValue }
}
