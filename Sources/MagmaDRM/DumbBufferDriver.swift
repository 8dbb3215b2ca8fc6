import CMagmaDRM
import MagmaPlatform
import MagmaProtocol

/// Buffers as dumb buffers (MODE_CREATE_DUMB, MAP_DUMB) on the card node: vgem's only buffer
/// kind, and the generic fallback every KMS driver offers. A dumb buffer is made as rows of
/// one page (width 4096, 8 bits per pixel), so its size is the request rounded up to pages.
struct DumbBufferDriver: DRMDriver {
    var opensCardNode: Bool { true }

    func createBuffer(in file: DRMFile, size: UInt64) throws(MagmaError) -> (handle: UInt32, size: UInt64) {
        let row = UInt64(SharedMemory.pageSize)
        let (rounded, overflow) = size.addingReportingOverflow(row - 1)
        guard size > 0, !overflow, let rows = UInt32(exactly: rounded / row) else { throw .invalidArgs("dumb buffer of \(size) bytes") }
        var create = cmagma_drm_mode_create_dumb(height: rows, width: UInt32(row), bpp: 8, flags: 0, handle: 0, pitch: 0, size: 0)
        try file.perform(cmagma_drm_ioctl_mode_create_dumb, "DRM_IOCTL_MODE_CREATE_DUMB", &create, "\(size) bytes on \(file.path)")
        return (create.handle, create.size)
    }

    func mapOffset(in file: DRMFile, handle: UInt32) throws(MagmaError) -> UInt64 {
        var map = cmagma_drm_mode_map_dumb(handle: handle, pad: 0, offset: 0)
        try file.perform(cmagma_drm_ioctl_mode_map_dumb, "DRM_IOCTL_MODE_MAP_DUMB", &map, "handle \(handle)")
        return map.offset
    }

    func makeSubmitter(for file: DRMFile) -> (any DRMSubmitter)? { nil }
}
