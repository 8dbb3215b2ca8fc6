import CMagmaDRM
import MagmaProtocol

/// vgem's fences: a CPU-controlled dma_fence on a buffer object's reservation, the way to give
/// a dma-buf an implicit fence without a GPU (tests of implicit sync and sync_file import use
/// it). The kernel signals a fence itself after 10 s, and every fence of a file when it closes.
extension DRMFile {
    /// VGEM_FENCE_ATTACH: a new unsignaled fence on `handle` (exclusive with `write`); returns
    /// its id. EBUSY (BAD_STATE) while a conflicting fence is unsignaled.
    public func attachVGEMFence(to handle: UInt32, write: Bool) throws(MagmaError) -> UInt32 {
        var attach = cmagma_drm_vgem_fence_attach(handle: handle, flags: write ? cmagma_drm_vgem_fence_write : 0, out_fence: 0, pad: 0)
        try perform(cmagma_drm_ioctl_vgem_fence_attach, "DRM_IOCTL_VGEM_FENCE_ATTACH", &attach, "handle \(handle)")
        return attach.out_fence
    }

    /// VGEM_FENCE_SIGNAL: signals fence `id`; an unknown or already signaled one is
    /// INVALID_ARGS (ENOENT), one the kernel signaled on its timeout TIMED_OUT (ETIMEDOUT).
    public func signalVGEMFence(_ id: UInt32) throws(MagmaError) {
        var signal = cmagma_drm_vgem_fence_signal(fence: id, flags: 0)
        try perform(cmagma_drm_ioctl_vgem_fence_signal, "DRM_IOCTL_VGEM_FENCE_SIGNAL", &signal, "fence \(id)")
    }
}
