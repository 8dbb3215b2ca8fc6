import CMagmaDRM
import MagmaPlatform
import MagmaProtocol

/// virtio_gpu's buffers: classic resources (VIRTGPU_RESOURCE_CREATE) on the render node,
/// mapped with VIRTGPU_MAP. A buffer is a 2D texture resource of 32-bit pixels, one page per
/// row (width 1024, B8G8R8X8), the one kind the host's 2D device model accepts as well as
/// virgl. Blob resources need features Debian's QEMU does not offer (docs/drm.md).
struct VirtioGPUDriver: DRMDriver {
    /// PIPE_TEXTURE_2D, the only target without virgl.
    private static let texture2D: UInt32 = 2
    /// VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM.
    private static let formatB8G8R8X8: UInt32 = 2

    var opensCardNode: Bool { false }

    func createBuffer(in file: DRMFile, size: UInt64) throws(MagmaError) -> (handle: UInt32, size: UInt64) {
        let row = UInt64(SharedMemory.pageSize)
        let (rounded, overflow) = size.addingReportingOverflow(row - 1)
        guard size > 0, !overflow, let bytes = UInt32(exactly: rounded / row * row) else {
            throw .invalidArgs("virtio_gpu resource of \(size) bytes (at most 4 GiB - 1 page)")
        }
        var create = cmagma_drm_virtgpu_resource_create(
            target: Self.texture2D, format: Self.formatB8G8R8X8, bind: 0, width: UInt32(row / 4), height: bytes / UInt32(row),
            depth: 1, array_size: 1, last_level: 0, nr_samples: 0, flags: 0, bo_handle: 0, res_handle: 0, size: bytes, stride: UInt32(row))
        try file.perform(cmagma_drm_ioctl_virtgpu_resource_create, "DRM_IOCTL_VIRTGPU_RESOURCE_CREATE", &create, "\(size) bytes")
        return (create.bo_handle, UInt64(bytes))
    }

    func mapOffset(in file: DRMFile, handle: UInt32) throws(MagmaError) -> UInt64 {
        var map = cmagma_drm_virtgpu_map(offset: 0, handle: handle, pad: 0)
        try file.perform(cmagma_drm_ioctl_virtgpu_map, "DRM_IOCTL_VIRTGPU_MAP", &map, "handle \(handle)")
        return map.offset
    }

    func makeSubmitter(for file: DRMFile) -> (any DRMSubmitter)? { nil }
}
