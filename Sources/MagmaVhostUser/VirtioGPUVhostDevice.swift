import Magma
import MagmaGuestMemory
import MagmaPlatform
import MagmaProtocol
import MagmaVirtioHost
import MagmaWire

/// The virtio-gpu device behind the vhost-user back-end: the control queue's commands go to a
/// `VirtioDeviceModel` (Magma contexts, capset 7 on every context), GET_DISPLAY_INFO and
/// GET_EDID are answered here (`VirtioGPUDisplay`), the cursor queue is drained. A fenced
/// command's chain completes when its fence does.
///
/// Features: VIRGL and EDID (what QEMU 7.2's vhost-user-gpu front-end takes from the back-end)
/// and indirect descriptors. No blob resources and no context-init: the guest cannot pick a
/// capset, so every context is a Magma context, which the capset says.
public final class VirtioGPUVhostDevice: VhostUserDevice {
    /// The control queue's index.
    public static let controlQueue = 0
    /// The cursor queue's index.
    public static let cursorQueue = 1
    /// The largest command a control chain may carry (SUBMIT_3D's payload limit and a full
    /// ATTACH_BACKING fit well within it).
    public static let maxCommandBytes = 1 << 20

    public let queueCount = 2
    public let features = VirtioGPUDisplay.featureVirgl | VirtioGPUDisplay.featureEdid | VhostUserFeature.indirectDescriptors
        | VhostUserFeature.eventIndex

    private let host: Device
    private let memory: GuestMemory
    private let limits: VirtioDeviceLimits
    private let state: Locked<DeviceState>
    private let closeRecord = Locked<(before: VirtioDeviceModel.Counts, after: VirtioDeviceModel.Counts)?>(nil)

    private struct DeviceState {
        var model: VirtioDeviceModel?
        var display: VhostUserGPUSocket?
        var closed = false
    }

    /// A device serving `host` to the guest whose memory is `memory`.
    public init(host: Device, memory: GuestMemory, limits: VirtioDeviceLimits = VirtioDeviceLimits()) throws(MagmaError) {
        self.host = host
        self.memory = memory
        self.limits = limits
        state = Locked(DeviceState(model: try VirtioDeviceModel(device: host, memory: memory, limits: limits)))
    }

    /// The device model serving the guest now (a reset replaces it).
    public var model: VirtioDeviceModel? { state.withLock { $0.model } }

    /// The display socket's outcome: the front-end's protocol features, or why the exchange
    /// failed; nil before the socket comes or while the exchange runs.
    public var displayProtocolFeatures: Result<UInt64, VhostUserError>? {
        state.withLock { $0.display }?.outcome.withLock { $0 }
    }

    public func readConfig() -> [UInt8] { VirtioGPUDisplay.config }

    /// The driver may write events_clear; there are no events, so nothing changes.
    public func writeConfig(offset: Int, data: [UInt8]) {}

    public func handle(_ chain: DescriptorChain, queue: Int) -> VirtqueueCompletion {
        guard queue == Self.controlQueue else { return VirtqueueCompletion(response: []) }   // cursor: drained
        guard let request = chain.readAll(limit: Self.maxCommandBytes),
              let header = try? VirtioGPU.decodeHeader(request) else {
            return VirtqueueCompletion(response: VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0), .error(.errorInvalidParameter)))
        }
        switch header.type {
        case VirtioGPUDisplay.getDisplayInfo: return VirtqueueCompletion(response: VirtioGPUDisplay.displayInfo(answering: header))
        case VirtioGPUDisplay.getEdid: return VirtqueueCompletion(response: VirtioGPUDisplay.edid(request, header: header))
        default:
            guard let model = state.withLock({ $0.model }) else {
                return VirtqueueCompletion(response: VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0, contextId: header.contextId), .error(.errorUnspecified)))
            }
            let result = model.perform(request)
            return VirtqueueCompletion(response: result.response, after: result.completion)
        }
    }

    public func adoptFrontEndSocket(_ channel: VhostUserChannel) throws(VhostUserError) {
        let display = try VhostUserGPUSocket(channel: channel)
        let previous = state.withLock { state in
            defer { state.display = state.closed ? nil : display }
            return state.closed ? display : state.display
        }
        previous?.close()
    }

    /// Every context and resource of the guest is released; a fresh model serves what follows.
    public func reset() {
        let old = state.withLock { state in
            defer { state.model = nil }
            return state.model
        }
        old?.close()
        let fresh = try? VirtioDeviceModel(device: host, memory: memory, limits: limits)
        state.withLock { state in if !state.closed { state.model = fresh } }
    }

    /// What the guest's device model held when the device closed, and what it held once closed
    /// (nothing, unless a context's watcher thread outlived the close bound); nil before.
    public var heldAtClose: (before: VirtioDeviceModel.Counts, after: VirtioDeviceModel.Counts)? { closeRecord.withLock { $0 } }

    public func close() {
        let (model, display) = state.withLock { state in
            defer {
                state.closed = true
                state.model = nil
                state.display = nil
            }
            return (state.model, state.display)
        }
        if let model {
            let before = model.counts
            model.close()
            closeRecord.withLock { $0 = (before, model.counts) }
        }
        display?.close()
    }
}
