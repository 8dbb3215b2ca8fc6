import MagmaPlatform

/// The vhost-user back-end of ONE front-end (one VM's device): the negotiated features, the
/// memory table, the rings, and the thread that polls the rings' kick eventfds and the
/// completions the device defers (one thread per device, not per queue). `handle` applies one
/// front-end request; a refused request throws and changes nothing.
public final class VhostUserBackend: Sendable {
    /// The device it serves.
    public let device: VhostUserDevice
    /// The guest's memory, as the front-end's SET_MEM_TABLE gave it.
    public let memory: VhostUserMemoryTable
    let state: Locked<BackendState>
    let wake: EventSemaphore
    /// Signaled once the queue thread has ended.
    public let ended: EventSemaphore

    struct BackendState {
        var features: UInt64 = 0
        var protocolFeatures: UInt64 = 0
        var owned = false
        var rings: [Vring]
        var pending: [DeferredCompletion] = []
        var stopping = false
    }

    /// A chain whose completion waits for an eventfd.
    struct DeferredCompletion {
        let queue: Int
        let generation: Int
        let chain: DescriptorChain
        let completion: VirtqueueCompletion
        let signal: EventSemaphore
    }

    /// Protocol features offered.
    public static let protocolFeatures = VhostUserProtocolFeature.multipleQueues | VhostUserProtocolFeature.replyAck
        | VhostUserProtocolFeature.config | VhostUserProtocolFeature.resetDevice

    /// A back-end serving `device` over the guest memory of `memory`; its queue thread starts now.
    public init(device: VhostUserDevice, memory: VhostUserMemoryTable) throws(PlatformError) {
        self.device = device
        self.memory = memory
        state = Locked(BackendState(rings: Array(repeating: Vring(), count: device.queueCount)))
        wake = try EventSemaphore()
        ended = try EventSemaphore()
        try HostThread.spawn(name: "vhost-queues") { [self] in runQueues() }
    }

    /// Every feature bit offered: the device's, VERSION_1 and PROTOCOL_FEATURES.
    public var offeredFeatures: UInt64 { device.features | VhostUserFeature.version1 | VhostUserFeature.protocolFeatures }

    /// Whether REPLY_ACK was negotiated.
    public var acknowledgesReplies: Bool { state.withLock { $0.protocolFeatures & VhostUserProtocolFeature.replyAck != 0 } }

    /// Applies one request; returns the reply payload of a request that has one.
    public func handle(_ command: VhostUserCommand) throws(VhostUserError) -> [UInt8]? {
        var out = LittleEndianWriter()
        switch command {
        case .getFeatures:
            out.u64(offeredFeatures)
            return out.bytes
        case .setFeatures(let features):
            guard features & ~offeredFeatures == 0 else { throw .invalid("SET_FEATURES 0x\(String(features, radix: 16)) has bits not offered") }
            state.withLock { $0.features = features }
        case .getProtocolFeatures:
            out.u64(Self.protocolFeatures)
            return out.bytes
        case .setProtocolFeatures(let features):
            guard features & ~Self.protocolFeatures == 0 else { throw .invalid("SET_PROTOCOL_FEATURES 0x\(String(features, radix: 16)) has bits not offered") }
            state.withLock { $0.protocolFeatures = features }
        case .getQueueNum:
            out.u64(UInt64(device.queueCount))
            return out.bytes
        case .setOwner:
            state.withLock { $0.owned = true }
        case .resetOwner, .resetDevice:
            reset()
        case .setMemTable(let regions, let fds):
            try memory.replace(regions, descriptors: fds)
        case .setVringNum(let index, let num):
            guard num > 0, Int(num) <= SplitVirtqueue.maxSize, num & (num - 1) == 0 else { throw .invalid("ring \(index): size \(num) is not a power of two up to 32768") }
            try withStoppedRing(index) { $0.size = Int(num) }
        case .setVringAddr(let address):
            guard address.flags == 0 else { throw .invalid("ring \(address.index): logging (flags 0x\(String(address.flags, radix: 16))) is not offered") }
            try withStoppedRing(address.index) { $0.address = address }
        case .setVringBase(let index, let num):
            guard num <= UInt32(UInt16.max) else { throw .invalid("ring \(index): base \(num) does not fit 16 bits") }
            try withStoppedRing(index) { $0.base = UInt16(num) }
        case .getVringBase(let index):
            out.u32(index)
            out.u32(UInt32(try stop(index)))
            return out.bytes
        case .setVringFile(let request, let index, let descriptor):
            try setFile(request, index: index, descriptor: descriptor)
        case .setVringEnable(let index, let enabled):
            try ring(index) { $0.enabled = enabled }
            wake.signal()
        case .getConfig(let offset, let size, let flags):
            let config = device.readConfig()
            let end = Int(offset) + Int(size)
            out.u32(offset)
            guard end <= config.count else {
                out.u32(0)
                out.u32(flags)
                return out.bytes   // a size of 0: the front-end reports the failure
            }
            out.u32(size)
            out.u32(flags)
            return out.bytes + config[Int(offset)..<end]
        case .setConfig(let offset, _, let data):
            guard Int(offset) + data.count <= device.readConfig().count else { throw .invalid("SET_CONFIG at \(offset) of \(data.count) bytes is past the config space") }
            device.writeConfig(offset: Int(offset), data: data)
        case .gpuSetSocket(let fd):
            try device.adoptFrontEndSocket(VhostUserChannel(socket: MessageSocket(adopting: fd)))
        }
        return nil
    }

    /// The front-end has gone: the queue thread ends, the device closes, every ring's
    /// descriptors are dropped. Returns once the queue thread has ended.
    public func close() {
        state.withLock { $0.stopping = true }
        wake.signal()
        _ = ended.wait(timeoutNanoseconds: Poller.forever)
        state.withLock { state in
            state.pending = []
            state.rings = Array(repeating: Vring(), count: state.rings.count)
        }
        device.close()
    }

    /// Why each ring failed, if it did (for tests and diagnostics).
    public var ringFailures: [VhostUserError?] { state.withLock { $0.rings.map(\.failure) } }

    /// Chains waiting for a completion now.
    public var pendingCount: Int { state.withLock { $0.pending.count } }

    // MARK: - Rings

    private func ring<R>(_ index: UInt32, _ body: (inout Vring) throws(VhostUserError) -> R) throws(VhostUserError) -> R {
        try state.withLock { state throws(VhostUserError) in
            guard Int(index) < state.rings.count else { throw .invalid("ring \(index): the device has \(state.rings.count)") }
            return try body(&state.rings[Int(index)])
        }
    }

    /// Changes a ring's layout, which only a stopped ring may have changed.
    private func withStoppedRing(_ index: UInt32, _ body: (inout Vring) -> Void) throws(VhostUserError) {
        try ring(index) { ring throws(VhostUserError) in
            guard ring.queue == nil else { throw .invalid("ring \(index) is running: stop it (GET_VRING_BASE) first") }
            body(&ring)
        }
    }

    private func setFile(_ request: VhostUserRequest, index: UInt32, descriptor: OwnedFileDescriptor?) throws(VhostUserError) {
        var semaphore: EventSemaphore?
        if let descriptor {
            do { semaphore = try EventSemaphore(importing: descriptor) } catch { throw .platform(error) }
        }
        let features = state.withLock { $0.features }
        try ring(index) { ring throws(VhostUserError) in
            switch request {
            case .setVringCall: ring.call = semaphore
            case .setVringErr: ring.error = semaphore
            default:
                // The kick starts the ring (a missing one means polling, which is not offered).
                guard let semaphore else { throw .invalid("ring \(index): a kick without a descriptor (polling) is not offered") }
                guard let address = ring.address, ring.size > 0 else { throw .invalid("ring \(index): a kick before its size and addresses") }
                if ring.queue != nil { ring.kick = semaphore; return }
                ring.queue = try SplitVirtqueue(size: ring.size, address: address, base: ring.base, memory: memory,
                                                indirectAllowed: features & VhostUserFeature.indirectDescriptors != 0,
                                                eventIndex: features & VhostUserFeature.eventIndex != 0)
                ring.kick = semaphore
                ring.failure = nil
                ring.generation += 1
                if features & VhostUserFeature.protocolFeatures == 0 { ring.enabled = true }
            }
        }
        wake.signal()
    }

    /// GET_VRING_BASE: stops the ring and returns where the driver's next entry is. Its
    /// deferred completions are dropped (a ring is stopped to reset or save the device). Once
    /// every ring that ran has stopped, the device is reset.
    private func stop(_ index: UInt32) throws(VhostUserError) -> UInt16 {
        let (base, allStopped) = try state.withLock { state throws(VhostUserError) -> (UInt16, Bool) in
            guard Int(index) < state.rings.count else { throw .invalid("ring \(index): the device has \(state.rings.count)") }
            var ring = state.rings[Int(index)]
            let wasRunning = ring.queue != nil
            if let queue = ring.queue { ring.base = queue.lastAvailable }
            ring.queue = nil
            ring.kick = nil
            state.rings[Int(index)] = ring
            state.pending.removeAll { $0.queue == Int(index) }
            return (ring.base, wasRunning && state.rings.allSatisfy { $0.queue == nil })
        }
        wake.signal()
        if allStopped { device.reset() }
        return base
    }

    /// RESET_OWNER / RESET_DEVICE: every ring is cleared (its descriptors closed), the
    /// negotiated features forgotten, and the device reset.
    private func reset() {
        state.withLock { state in
            state.pending = []
            state.rings = Array(repeating: Vring(), count: state.rings.count)
            state.features = 0
        }
        wake.signal()
        device.reset()
    }
}
