import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaWire
import SystemPackage

/// One guest of the socket emulation, as one VM has one virtio-gpu device: one socket to the
/// host's device model, the guest's physical address space for resources (`memoryBytes`, with
/// its page allocator), its id counters (contexts, resources) and its live resources. Each
/// resource is memory of its own, a size-sealed memfd the guest shares as a region of guest
/// memory at a fresh guest address (`add_memory_region`, removed with the resource), so a
/// resource's exported descriptor is its memory, as a dma-buf is on the guest kernel's PRIME.
/// Every open of the device in this guest (`VirtGPUSocketDevice(guest:)`: one context each, as
/// each open of /dev/dri/renderD* is) uses it, so the host serves them as contexts of one guest
/// session sharing one guest memory.
///
/// Control commands are round trips the host answers at once (fences complete separately, by
/// eventfd). Callers take turns on the socket (`channel`'s condition); none holds a lock while
/// it waits for the host, and a host that does not answer within the call timeout is
/// TIMED_OUT, after which the guest is unusable (CONNECTION_LOST: a late answer would pair
/// with the wrong call). The socket closes when the last open device closes (or the guest is
/// gone); a resource's memory stays mapped while its mapping is held.
public final class VirtGPUSocketGuest: Sendable {
    /// Guest memory for resources unless told otherwise.
    public static let defaultMemoryBytes = 64 << 20

    /// The socket of the host's device model it is a guest of.
    public let path: String
    /// This guest among the process's guests (never reused): what its exported descriptors
    /// carry, so another guest's import refuses them.
    public let key: UInt64
    /// Whether its device offers CONTEXT_INIT (per-context fence rings). Without it the device
    /// behaves as QEMU's vhost-user-gpu front-end leaves a guest kernel: GETPARAM says 0, a
    /// context is made with capset 0, and every fence of every open is on the device's ONE
    /// global timeline (no ring index), with fence ids from one counter of the guest's.
    public let offersContextInit: Bool
    private let socket: MessageSocket
    private let channel = LockedCondition(Channel())
    private let callTimeoutNanoseconds: UInt64
    private let state: Locked<State>

    private struct Channel {
        var transaction: UInt32 = 0
        var lost: MagmaError?
        var busy = false
    }

    private static let nextKey = Locked<UInt64>(1)

    private struct State {
        var pages: GuestPageAllocator
        var nextResourceId: UInt32 = 1
        var nextContextId: UInt32 = 1
        var nextShareId: UInt64 = 1
        /// Fence ids of the global timeline (without CONTEXT_INIT), as the kernel's one counter.
        var nextGlobalFence: UInt64 = 1
        /// Its live resources, whichever devices hold them.
        var resources: [UInt32: WeakResource] = [:]
        /// Its live resources by their memory's file (what PRIME import looks a descriptor up by).
        var resourcesByFile: [FileIdentity: UInt32] = [:]
        var openDevices = 0
        /// Its last open device has closed: the socket is shut, no device opens on it again.
        var closed = false
    }

    /// Connects to the device model at `path`, with `memoryBytes` of guest physical addresses for
    /// resources (at most that much resource memory at once); a control command the host does
    /// not answer within `callTimeoutNanoseconds` is TIMED_OUT.
    /// `contextInit: false` makes a device without CONTEXT_INIT (`offersContextInit`).
    public init(path: String, memoryBytes: Int = VirtGPUSocketGuest.defaultMemoryBytes,
                callTimeoutNanoseconds: UInt64 = 30_000_000_000, contextInit: Bool = true) throws(MagmaError) {
        self.path = path
        offersContextInit = contextInit
        key = Self.nextKey.withLock { key in defer { key += 1 }; return key }
        self.callTimeoutNanoseconds = callTimeoutNanoseconds
        do { socket = try MessageSocket.connect(path: path) } catch {
            throw MagmaError(.connectionLost, "virtio device \(path): \(error)", systemErrorCode: error.code)
        }
        state = Locked(State(pages: GuestPageAllocator(pages: max(0, memoryBytes) / SharedMemory.pageSize)))
    }

    deinit { socket.shutdown() }

    /// Whether a new device may open on it: some device is still open, the socket is unbroken
    /// and the host has not hung up.
    public var isUsable: Bool {
        guard !state.withLock({ $0.closed }), channel.withLock({ $0.lost == nil }) else { return false }
        let hungUp = (try? Poller.poll([PollRequest(descriptor: hangupDescriptor, events: 0)], timeoutNanoseconds: 0))?[0] ?? true
        return !hungUp
    }

    /// Devices open on it now.
    public var openDeviceCount: Int { state.withLock { $0.openDevices } }

    /// Pages of guest memory free for resources.
    public var freePages: Int { state.withLock { $0.pages.freePages } }

    /// Polls POLLHUP (with no events asked for) once the host has closed the socket or gone.
    var hangupDescriptor: FileDescriptor { socket.descriptor.fileDescriptor }

    // MARK: What its devices share

    /// A device opens: a fresh context id (never one an open device has, as the kernel's
    /// context id allocator). BAD_STATE once the guest has closed.
    func openDevice() throws(MagmaError) -> UInt32 {
        try state.withLock { state throws(MagmaError) -> UInt32 in
            guard !state.closed else { throw MagmaError(.connectionLost, "the virtio guest has closed") }
            guard state.nextContextId != .max else { throw .memoryError("the guest has used every context id") }
            defer { state.nextContextId += 1 }
            state.openDevices += 1
            return state.nextContextId
        }
    }

    /// A device has closed; the last one closes the socket (the host's session ends).
    func closeDevice() {
        let last = state.withLock { state in
            state.openDevices -= 1
            if state.openDevices == 0 { state.closed = true }
            return state.closed
        }
        if last { socket.shutdown() }
    }

    /// A resource id and a run of `count` pages of guest physical addresses.
    func allocate(pages count: Int) throws(MagmaError) -> (firstPage: Int, resourceId: UInt32) {
        try state.withLock { state throws(MagmaError) -> (Int, UInt32) in
            guard let first = state.pages.allocate(count) else { throw .memoryError("guest memory has no \(count) free pages in a row") }
            guard state.nextResourceId != .max else {
                state.pages.release(first, count: count)
                throw .memoryError("the guest has used every resource id")
            }
            defer { state.nextResourceId += 1 }
            return (first, state.nextResourceId)
        }
    }

    /// Gives a run of pages of guest physical addresses back.
    func release(firstPage: Int, count: Int) { state.withLock { $0.pages.release(firstPage, count: count) } }

    /// Shares `memory` with the host as the region of guest memory at `firstPage`
    /// (`add_memory_region`): MEMORY_ERROR when the host holds as many regions of the guest as
    /// it allows, INVALID_ARGS for another refusal.
    func addRegion(firstPage: Int, memory: SharedMemory) throws(MagmaError) {
        guard let memfd = memory.descriptor else { throw .internalError("resource memory without a descriptor") }
        try regionCall(VirtioSocketProtocol.AddMemoryRegion(guestAddress: UInt64(firstPage * SharedMemory.pageSize), size: UInt64(memory.size),
                                                            memory: WireHandle(memfd.fileDescriptor)), "add_memory_region")
    }

    /// A resource made, its region added: PRIME import may find it until it is unreferenced.
    func register(_ resource: SocketResource) {
        state.withLock { state in
            state.resources[resource.resourceId] = WeakResource(resource: resource)
            state.resourcesByFile[resource.file] = resource.resourceId
        }
    }

    /// A resource unreferenced (or never made): no import finds it, its region is removed
    /// (`remove_memory_region`; what the host made of its pages keeps them mapped) and its
    /// guest addresses go back, whatever the host said.
    func unregister(_ resource: SocketResource) {
        state.withLock { state in
            if state.resources[resource.resourceId]?.resource === resource { state.resources[resource.resourceId] = nil }
            if state.resourcesByFile[resource.file] == resource.resourceId { state.resourcesByFile[resource.file] = nil }
        }
        try? regionCall(VirtioSocketProtocol.RemoveMemoryRegion(guestAddress: UInt64(resource.firstPage * SharedMemory.pageSize)), "remove_memory_region")
        release(firstPage: resource.firstPage, count: resource.pages)
    }

    /// The live resource whose memory is the file behind `descriptor` (an exported resource's
    /// memfd; borrowed), if there is one.
    func resource(identifiedBy descriptor: FileDescriptor) -> SocketResource? {
        guard let file = try? FileIdentity(of: descriptor) else { return nil }
        return state.withLock { state in state.resourcesByFile[file].flatMap { state.resources[$0]?.resource } }
    }

    /// A fence id of the device's global timeline (devices without CONTEXT_INIT).
    func takeGlobalFenceId() -> UInt64 { state.withLock { state in defer { state.nextGlobalFence += 1 }; return state.nextGlobalFence } }

    /// A new share id (`export_object`): the guest's one counter, which the host checks.
    func takeShareId() -> UInt64 { state.withLock { state in defer { state.nextShareId += 1 }; return state.nextShareId } }

    // MARK: The socket

    /// One control command, in turn: the response and, for an accepted fenced command, the
    /// fence's eventfd.
    func control(_ header: VirtioGPU.ControlHeader, _ command: VirtioGPU.Command) throws(MagmaError) -> (VirtioGPU.Response, EventSemaphore?) {
        let (reply, descriptors) = try call(VirtioSocketProtocol.Control(command: VirtioGPU.encode(header, command)))
        guard case .controlResponse(let answer) = reply else { throw .internalError("control: \(reply)") }
        let response: VirtioGPU.Response
        do { response = try VirtioGPU.decodeResponse(answer.response).1 } catch { throw .internalError("control response: \(error)") }
        guard let descriptor = descriptors.first else { return (response, nil) }
        do { return (response, try EventSemaphore(importing: descriptor)) } catch { throw .internalError("fence eventfd: \(error)") }
    }

    /// A change of the guest's memory table, answered by `memory_region_reply`.
    private func regionCall<M: WireMessage>(_ message: M, _ what: String) throws(MagmaError) {
        let (reply, _) = try call(message)
        guard case .memoryRegionReply(let answer) = reply else { throw .internalError("\(what): \(reply)") }
        guard answer.status == .ok else { throw MagmaError(answer.status, "\(what): \(answer.reason)") }
    }

    private struct WeakResource {
        weak var resource: SocketResource?
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
            let received = try VirtioSocketProtocol.ServerMessage.decode(bytes: bytes, handles: descriptors.map { WireHandle($0.fileDescriptor) })
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
}
