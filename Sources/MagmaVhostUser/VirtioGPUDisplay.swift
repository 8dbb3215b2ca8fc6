import MagmaWire

/// The virtio-gpu answers this device makes itself, with no display behind it: one scanout,
/// disabled (GET_DISPLAY_INFO), no EDID blocks (GET_EDID), and the config space (one scanout,
/// one capset: Magma's). Enough for a guest driver to bind; no scanout work is done.
enum VirtioGPUDisplay {
    /// VIRTIO_GPU_CMD_GET_DISPLAY_INFO.
    static let getDisplayInfo: UInt32 = 0x0100
    /// VIRTIO_GPU_CMD_GET_EDID.
    static let getEdid: UInt32 = 0x010A
    /// VIRTIO_GPU_RESP_OK_DISPLAY_INFO.
    static let okDisplayInfo: UInt32 = 0x1101
    /// VIRTIO_GPU_RESP_OK_EDID.
    static let okEdid: UInt32 = 0x1104
    /// VIRTIO_GPU_MAX_SCANOUTS: GET_DISPLAY_INFO always lists this many modes.
    static let maxScanouts = 16
    /// Bytes of GET_EDID's request (header, scanout, padding).
    static let edidRequestBytes = VirtioGPU.ControlHeader.byteCount + 8

    /// VIRTIO_GPU_F_VIRGL: 3D commands (contexts, SUBMIT_3D, capsets).
    static let featureVirgl: UInt64 = 1 << 0
    /// VIRTIO_GPU_F_EDID: GET_EDID.
    static let featureEdid: UInt64 = 1 << 1

    /// The config space (struct virtio_gpu_config): no events, one scanout, one capset.
    static let config: [UInt8] = {
        var out = LittleEndianWriter()
        for value: UInt32 in [0, 0, 1, 1] { out.u32(value) }
        return out.bytes
    }()

    /// The answer to GET_DISPLAY_INFO: every scanout disabled, with no mode.
    static func displayInfo(answering request: VirtioGPU.ControlHeader) -> [UInt8] {
        header(okDisplayInfo, answering: request) + [UInt8](repeating: 0, count: maxScanouts * 24)
    }

    /// The answer to GET_EDID: an EDID of no bytes (the guest driver then has none to parse);
    /// a request for a scanout past the one there is, or too short, is ERR_INVALID_PARAMETER.
    static func edid(_ request: [UInt8], header requestHeader: VirtioGPU.ControlHeader) -> [UInt8] {
        guard request.count >= edidRequestBytes else { return header(VirtioGPU.ControlType.errorInvalidParameter.rawValue, answering: requestHeader) }
        let scanout = request[24..<28].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        guard scanout == 0 else { return header(VirtioGPU.ControlType.errorInvalidParameter.rawValue, answering: requestHeader) }
        var out = LittleEndianWriter()
        out.u32(0)   // size
        out.u32(0)   // padding
        return header(okEdid, answering: requestHeader) + out.bytes + [UInt8](repeating: 0, count: 1024)
    }

    /// A response header of `type` for `request`, keeping its fence (these answers are final).
    private static func header(_ type: UInt32, answering request: VirtioGPU.ControlHeader) -> [UInt8] {
        let fenced = type < VirtioGPU.ControlType.errorUnspecified.rawValue
        var out = LittleEndianWriter()
        out.u32(type)
        out.u32(fenced ? request.flags & (VirtioGPU.flagFence | VirtioGPU.flagInfoRingIndex) : 0)
        out.u64(fenced ? request.fenceId : 0)
        out.u32(request.contextId)
        out.u32(fenced ? UInt32(request.ringIndex) : 0)
        return out.bytes
    }
}
