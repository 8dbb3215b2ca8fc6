// The few Linux DRM uAPI structures and ioctl numbers MagmaDRM uses, written for this project
// from the documented layouts (drm.h, drm_mode.h, virtgpu_drm.h; shared/reference/linux-drm-asahi.md).
// The host that builds the package has no DRM headers (Debian's linux-libc-dev ships none), so
// the layouts are ours; the static asserts below pin every size and request number to the ABI,
// which is stable. Swift cannot import the _IOWR macros: the numbers are constants here.
#ifndef CMAGMA_DRM_H
#define CMAGMA_DRM_H

#include <stddef.h>
#include <stdint.h>
#include <linux/ioctl.h>

// MARK: Core DRM (drm.h)

/// DRM_IOCTL_VERSION's argument: the driver's version and three strings the caller sizes.
struct cmagma_drm_version {
    int major;
    int minor;
    int patchlevel;
    size_t name_len;
    char *name;
    size_t date_len;
    char *date;
    size_t desc_len;
    char *desc;
};

/// DRM_IOCTL_GEM_CLOSE: drops this file's handle.
struct cmagma_drm_gem_close {
    uint32_t handle;
    uint32_t pad;
};

/// DRM_IOCTL_GET_CAP: a capability id in, its value out.
struct cmagma_drm_get_cap {
    uint64_t capability;
    uint64_t value;
};

/// DRM_IOCTL_PRIME_HANDLE_TO_FD / FD_TO_HANDLE.
struct cmagma_drm_prime_handle {
    uint32_t handle;
    uint32_t flags;
    int32_t fd;
};

/// DRM_IOCTL_MODE_CREATE_DUMB: pitch, size and handle are out.
struct cmagma_drm_mode_create_dumb {
    uint32_t height;
    uint32_t width;
    uint32_t bpp;
    uint32_t flags;
    uint32_t handle;
    uint32_t pitch;
    uint64_t size;
};

/// DRM_IOCTL_MODE_MAP_DUMB: the fake offset to mmap the DRM file at.
struct cmagma_drm_mode_map_dumb {
    uint32_t handle;
    uint32_t pad;
    uint64_t offset;
};

/// DRM_IOCTL_MODE_DESTROY_DUMB.
struct cmagma_drm_mode_destroy_dumb {
    uint32_t handle;
};

/// DRM_IOCTL_SYNCOBJ_CREATE: the handle is out.
struct cmagma_drm_syncobj_create {
    uint32_t handle;
    uint32_t flags;
};

/// DRM_IOCTL_SYNCOBJ_DESTROY.
struct cmagma_drm_syncobj_destroy {
    uint32_t handle;
    uint32_t pad;
};

/// DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD / FD_TO_HANDLE (the original 16-byte layout, without the
/// timeline point newer kernels appended: the kernel zero-fills what a caller leaves out).
struct cmagma_drm_syncobj_handle {
    uint32_t handle;
    uint32_t flags;
    int32_t fd;
    uint32_t pad;
};

/// DRM_IOCTL_SYNCOBJ_WAIT (the original 32-byte layout, without the deadline).
struct cmagma_drm_syncobj_wait {
    uint64_t handles;
    int64_t timeout_nsec;
    uint32_t count_handles;
    uint32_t flags;
    uint32_t first_signaled;
    uint32_t pad;
};

/// DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT (the original 40-byte layout, without the deadline).
struct cmagma_drm_syncobj_timeline_wait {
    uint64_t handles;
    uint64_t points;
    int64_t timeout_nsec;
    uint32_t count_handles;
    uint32_t flags;
    uint32_t first_signaled;
    uint32_t pad;
};

/// DRM_IOCTL_SYNCOBJ_RESET / SIGNAL.
struct cmagma_drm_syncobj_array {
    uint64_t handles;
    uint32_t count_handles;
    uint32_t pad;
};

/// DRM_IOCTL_SYNCOBJ_QUERY / TIMELINE_SIGNAL.
struct cmagma_drm_syncobj_timeline_array {
    uint64_t handles;
    uint64_t points;
    uint32_t count_handles;
    uint32_t flags;
};

/// DRM_IOCTL_SYNCOBJ_EVENTFD (Linux 6.6): signal an eventfd once a point signals.
struct cmagma_drm_syncobj_eventfd {
    uint32_t handle;
    uint32_t flags;
    uint64_t point;
    int32_t fd;
    uint32_t pad;
};

// MARK: virtio_gpu (virtgpu_drm.h)

/// DRM_IOCTL_VIRTGPU_MAP: the fake offset to mmap the DRM file at.
struct cmagma_drm_virtgpu_map {
    uint64_t offset;
    uint32_t handle;
    uint32_t pad;
};

/// DRM_IOCTL_VIRTGPU_RESOURCE_INFO: the resource id (res_handle) and size of a GEM handle.
struct cmagma_drm_virtgpu_resource_info {
    uint32_t bo_handle;
    uint32_t res_handle;
    uint32_t size;
    uint32_t blob_mem;
};

/// DRM_IOCTL_VIRTGPU_RESOURCE_CREATE: a classic (2D or virgl 3D) resource; bo_handle,
/// res_handle are out.
struct cmagma_drm_virtgpu_resource_create {
    uint32_t target;
    uint32_t format;
    uint32_t bind;
    uint32_t width;
    uint32_t height;
    uint32_t depth;
    uint32_t array_size;
    uint32_t last_level;
    uint32_t nr_samples;
    uint32_t flags;
    uint32_t bo_handle;
    uint32_t res_handle;
    uint32_t size;
    uint32_t stride;
};

/// DRM_IOCTL_VIRTGPU_GETPARAM: `value` is the user address of an int the kernel writes.
struct cmagma_drm_virtgpu_getparam {
    uint64_t param;
    uint64_t value;
};

/// DRM_IOCTL_VIRTGPU_GET_CAPS: the kernel copies min(size, the capset's size) bytes to addr.
struct cmagma_drm_virtgpu_get_caps {
    uint32_t cap_set_id;
    uint32_t cap_set_ver;
    uint64_t addr;
    uint32_t size;
    uint32_t pad;
};

/// One parameter of DRM_IOCTL_VIRTGPU_CONTEXT_INIT (VIRTGPU_CONTEXT_PARAM_*).
struct cmagma_drm_virtgpu_context_set_param {
    uint64_t param;
    uint64_t value;
};

/// DRM_IOCTL_VIRTGPU_CONTEXT_INIT: `ctx_set_params` is the user address of the parameters.
struct cmagma_drm_virtgpu_context_init {
    uint32_t num_params;
    uint32_t pad;
    uint64_t ctx_set_params;
};

/// DRM_IOCTL_VIRTGPU_EXECBUFFER: `command` is the user address of `size` bytes for SUBMIT_3D;
/// fence_fd is out with VIRTGPU_EXECBUF_FENCE_FD_OUT, ring_idx in with VIRTGPU_EXECBUF_RING_IDX.
struct cmagma_drm_virtgpu_execbuffer {
    uint32_t flags;
    uint32_t size;
    uint64_t command;
    uint64_t bo_handles;
    uint32_t num_bo_handles;
    int32_t fence_fd;
    uint32_t ring_idx;
    uint32_t syncobj_stride;
    uint32_t num_in_syncobjs;
    uint32_t num_out_syncobjs;
    uint64_t in_syncobjs;
    uint64_t out_syncobjs;
};

/// One syncobj of an EXECBUFFER (in_syncobjs / out_syncobjs, syncobj_stride its size): a handle
/// of the file, a timeline point (0 for a binary syncobj), VIRTGPU_EXECBUF_SYNCOBJ_RESET to
/// reset an in-syncobj once its fence is taken.
struct cmagma_drm_virtgpu_execbuffer_syncobj {
    uint32_t handle;
    uint32_t flags;
    uint64_t point;
};

static const uint32_t cmagma_virtgpu_execbuf_syncobj_reset = 0x01;

// MARK: vgem (vgem_drm.h)

/// DRM_IOCTL_VGEM_FENCE_ATTACH: a fence on the object's reservation (exclusive with WRITE);
/// out_fence is out.
struct cmagma_drm_vgem_fence_attach {
    uint32_t handle;
    uint32_t flags;
    uint32_t out_fence;
    uint32_t pad;
};

/// DRM_IOCTL_VGEM_FENCE_SIGNAL.
struct cmagma_drm_vgem_fence_signal {
    uint32_t fence;
    uint32_t flags;
};

// MARK: dma-buf (linux/dma-buf.h)

/// DMA_BUF_IOCTL_SYNC: brackets CPU access to a dma-buf mapping.
struct cmagma_dma_buf_sync {
    uint64_t flags;
};

/// DMA_BUF_IOCTL_EXPORT_SYNC_FILE / IMPORT_SYNC_FILE.
struct cmagma_dma_buf_sync_file {
    uint32_t flags;
    int32_t fd;
};

// MARK: Request numbers

#define CMAGMA_DRM_IOWR(nr, type) _IOC(_IOC_READ | _IOC_WRITE, 'd', (nr), sizeof(type))
#define CMAGMA_DRM_IOW(nr, type) _IOC(_IOC_WRITE, 'd', (nr), sizeof(type))

static const unsigned long cmagma_drm_ioctl_version = CMAGMA_DRM_IOWR(0x00, struct cmagma_drm_version);
static const unsigned long cmagma_drm_ioctl_gem_close = CMAGMA_DRM_IOW(0x09, struct cmagma_drm_gem_close);
static const unsigned long cmagma_drm_ioctl_get_cap = CMAGMA_DRM_IOWR(0x0C, struct cmagma_drm_get_cap);
static const unsigned long cmagma_drm_ioctl_prime_handle_to_fd = CMAGMA_DRM_IOWR(0x2D, struct cmagma_drm_prime_handle);
static const unsigned long cmagma_drm_ioctl_prime_fd_to_handle = CMAGMA_DRM_IOWR(0x2E, struct cmagma_drm_prime_handle);
static const unsigned long cmagma_drm_ioctl_mode_create_dumb = CMAGMA_DRM_IOWR(0xB2, struct cmagma_drm_mode_create_dumb);
static const unsigned long cmagma_drm_ioctl_mode_map_dumb = CMAGMA_DRM_IOWR(0xB3, struct cmagma_drm_mode_map_dumb);
static const unsigned long cmagma_drm_ioctl_mode_destroy_dumb = CMAGMA_DRM_IOWR(0xB4, struct cmagma_drm_mode_destroy_dumb);
static const unsigned long cmagma_drm_ioctl_syncobj_create = CMAGMA_DRM_IOWR(0xBF, struct cmagma_drm_syncobj_create);
static const unsigned long cmagma_drm_ioctl_syncobj_destroy = CMAGMA_DRM_IOWR(0xC0, struct cmagma_drm_syncobj_destroy);
static const unsigned long cmagma_drm_ioctl_syncobj_handle_to_fd = CMAGMA_DRM_IOWR(0xC1, struct cmagma_drm_syncobj_handle);
static const unsigned long cmagma_drm_ioctl_syncobj_fd_to_handle = CMAGMA_DRM_IOWR(0xC2, struct cmagma_drm_syncobj_handle);
static const unsigned long cmagma_drm_ioctl_syncobj_wait = CMAGMA_DRM_IOWR(0xC3, struct cmagma_drm_syncobj_wait);
static const unsigned long cmagma_drm_ioctl_syncobj_reset = CMAGMA_DRM_IOWR(0xC4, struct cmagma_drm_syncobj_array);
static const unsigned long cmagma_drm_ioctl_syncobj_signal = CMAGMA_DRM_IOWR(0xC5, struct cmagma_drm_syncobj_array);
static const unsigned long cmagma_drm_ioctl_syncobj_timeline_wait = CMAGMA_DRM_IOWR(0xCA, struct cmagma_drm_syncobj_timeline_wait);
static const unsigned long cmagma_drm_ioctl_syncobj_query = CMAGMA_DRM_IOWR(0xCB, struct cmagma_drm_syncobj_timeline_array);
static const unsigned long cmagma_drm_ioctl_syncobj_timeline_signal = CMAGMA_DRM_IOWR(0xCD, struct cmagma_drm_syncobj_timeline_array);
static const unsigned long cmagma_drm_ioctl_syncobj_eventfd = CMAGMA_DRM_IOWR(0xCF, struct cmagma_drm_syncobj_eventfd);
static const unsigned long cmagma_drm_ioctl_virtgpu_map = CMAGMA_DRM_IOWR(0x41, struct cmagma_drm_virtgpu_map);
static const unsigned long cmagma_drm_ioctl_virtgpu_resource_info = CMAGMA_DRM_IOWR(0x45, struct cmagma_drm_virtgpu_resource_info);
static const unsigned long cmagma_drm_ioctl_virtgpu_resource_create = CMAGMA_DRM_IOWR(0x44, struct cmagma_drm_virtgpu_resource_create);
static const unsigned long cmagma_drm_ioctl_virtgpu_execbuffer = CMAGMA_DRM_IOWR(0x42, struct cmagma_drm_virtgpu_execbuffer);
static const unsigned long cmagma_drm_ioctl_virtgpu_getparam = CMAGMA_DRM_IOWR(0x43, struct cmagma_drm_virtgpu_getparam);
static const unsigned long cmagma_drm_ioctl_virtgpu_get_caps = CMAGMA_DRM_IOWR(0x49, struct cmagma_drm_virtgpu_get_caps);
static const unsigned long cmagma_drm_ioctl_virtgpu_context_init = CMAGMA_DRM_IOWR(0x4B, struct cmagma_drm_virtgpu_context_init);
static const unsigned long cmagma_drm_ioctl_vgem_fence_attach = CMAGMA_DRM_IOWR(0x41, struct cmagma_drm_vgem_fence_attach);
static const unsigned long cmagma_drm_ioctl_vgem_fence_signal = CMAGMA_DRM_IOW(0x42, struct cmagma_drm_vgem_fence_signal);
static const unsigned long cmagma_dma_buf_ioctl_sync = _IOC(_IOC_WRITE, 'b', 0, sizeof(struct cmagma_dma_buf_sync));
static const unsigned long cmagma_dma_buf_ioctl_export_sync_file = _IOC(_IOC_READ | _IOC_WRITE, 'b', 2, sizeof(struct cmagma_dma_buf_sync_file));
static const unsigned long cmagma_dma_buf_ioctl_import_sync_file = _IOC(_IOC_WRITE, 'b', 3, sizeof(struct cmagma_dma_buf_sync_file));

// MARK: Flags and capability ids

static const uint64_t cmagma_drm_cap_dumb_buffer = 0x1;
static const uint64_t cmagma_drm_cap_prime = 0x5;
static const uint64_t cmagma_drm_prime_cap_import = 0x1;
static const uint64_t cmagma_drm_prime_cap_export = 0x2;
static const uint64_t cmagma_drm_cap_syncobj = 0x13;
static const uint64_t cmagma_drm_cap_syncobj_timeline = 0x14;
/// DRM_CLOEXEC | DRM_RDWR for PRIME_HANDLE_TO_FD (O_RDWR: the dma-buf can be mapped writable).
static const uint32_t cmagma_drm_prime_flags = 02000000 | 02;
static const uint32_t cmagma_drm_syncobj_create_signaled = 1;
/// DRM_SYNCOBJ_FD_TO_HANDLE_FLAGS_IMPORT_SYNC_FILE and DRM_SYNCOBJ_HANDLE_TO_FD_FLAGS_EXPORT_SYNC_FILE.
static const uint32_t cmagma_drm_syncobj_fd_flags_sync_file = 1;
static const uint32_t cmagma_drm_syncobj_wait_all = 1;
static const uint32_t cmagma_drm_syncobj_wait_for_submit = 2;
/// VGEM_FENCE_WRITE: an exclusive (write) fence.
static const uint32_t cmagma_drm_vgem_fence_write = 1;
static const uint64_t cmagma_dma_buf_sync_read = 1;
static const uint64_t cmagma_dma_buf_sync_write = 2;
static const uint64_t cmagma_dma_buf_sync_start = 0;
static const uint64_t cmagma_dma_buf_sync_end = 4;
static const uint32_t cmagma_virtgpu_execbuf_fence_fd_out = 0x02;
static const uint32_t cmagma_virtgpu_execbuf_ring_idx = 0x04;
static const uint64_t cmagma_virtgpu_context_param_capset_id = 0x0001;
static const uint64_t cmagma_virtgpu_context_param_num_rings = 0x0002;

// The ABI, checked: sizes from the headers' layouts, numbers from reference/linux-drm-asahi.md.
_Static_assert(sizeof(struct cmagma_drm_version) == 64, "drm_version (LP64)");
_Static_assert(sizeof(struct cmagma_drm_prime_handle) == 12, "drm_prime_handle");
_Static_assert(sizeof(struct cmagma_drm_mode_create_dumb) == 32, "drm_mode_create_dumb");
_Static_assert(sizeof(struct cmagma_drm_syncobj_wait) == 32, "drm_syncobj_wait");
_Static_assert(sizeof(struct cmagma_drm_syncobj_timeline_wait) == 40, "drm_syncobj_timeline_wait");
_Static_assert(sizeof(struct cmagma_drm_virtgpu_resource_create) == 56, "drm_virtgpu_resource_create");
_Static_assert(CMAGMA_DRM_IOWR(0x00, struct cmagma_drm_version) == 0xC0406400UL, "DRM_IOCTL_VERSION");
_Static_assert(CMAGMA_DRM_IOW(0x09, struct cmagma_drm_gem_close) == 0x40086409UL, "DRM_IOCTL_GEM_CLOSE");
_Static_assert(CMAGMA_DRM_IOWR(0x0C, struct cmagma_drm_get_cap) == 0xC010640CUL, "DRM_IOCTL_GET_CAP");
_Static_assert(CMAGMA_DRM_IOWR(0x2D, struct cmagma_drm_prime_handle) == 0xC00C642DUL, "DRM_IOCTL_PRIME_HANDLE_TO_FD");
_Static_assert(CMAGMA_DRM_IOWR(0xB2, struct cmagma_drm_mode_create_dumb) == 0xC02064B2UL, "DRM_IOCTL_MODE_CREATE_DUMB");
_Static_assert(CMAGMA_DRM_IOWR(0xB3, struct cmagma_drm_mode_map_dumb) == 0xC01064B3UL, "DRM_IOCTL_MODE_MAP_DUMB");
_Static_assert(CMAGMA_DRM_IOWR(0xB4, struct cmagma_drm_mode_destroy_dumb) == 0xC00464B4UL, "DRM_IOCTL_MODE_DESTROY_DUMB");
_Static_assert(CMAGMA_DRM_IOWR(0xBF, struct cmagma_drm_syncobj_create) == 0xC00864BFUL, "DRM_IOCTL_SYNCOBJ_CREATE");
_Static_assert(CMAGMA_DRM_IOWR(0xC1, struct cmagma_drm_syncobj_handle) == 0xC01064C1UL, "DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD");
_Static_assert(CMAGMA_DRM_IOWR(0xC3, struct cmagma_drm_syncobj_wait) == 0xC02064C3UL, "DRM_IOCTL_SYNCOBJ_WAIT");
_Static_assert(CMAGMA_DRM_IOWR(0xC4, struct cmagma_drm_syncobj_array) == 0xC01064C4UL, "DRM_IOCTL_SYNCOBJ_RESET");
_Static_assert(CMAGMA_DRM_IOWR(0xCA, struct cmagma_drm_syncobj_timeline_wait) == 0xC02864CAUL, "DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT");
_Static_assert(CMAGMA_DRM_IOWR(0xCB, struct cmagma_drm_syncobj_timeline_array) == 0xC01864CBUL, "DRM_IOCTL_SYNCOBJ_QUERY");
_Static_assert(CMAGMA_DRM_IOWR(0xCD, struct cmagma_drm_syncobj_timeline_array) == 0xC01864CDUL, "DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL");
_Static_assert(CMAGMA_DRM_IOWR(0xCF, struct cmagma_drm_syncobj_eventfd) == 0xC01864CFUL, "DRM_IOCTL_SYNCOBJ_EVENTFD");
_Static_assert(CMAGMA_DRM_IOWR(0x41, struct cmagma_drm_vgem_fence_attach) == 0xC0106441UL, "DRM_IOCTL_VGEM_FENCE_ATTACH");
_Static_assert(CMAGMA_DRM_IOW(0x42, struct cmagma_drm_vgem_fence_signal) == 0x40086442UL, "DRM_IOCTL_VGEM_FENCE_SIGNAL");
_Static_assert(CMAGMA_DRM_IOWR(0x41, struct cmagma_drm_virtgpu_map) == 0xC0106441UL, "DRM_IOCTL_VIRTGPU_MAP");
// Numbers and sizes below checked against linux 6.12's include/uapi/drm/virtgpu_drm.h.
_Static_assert(sizeof(struct cmagma_drm_virtgpu_execbuffer) == 64, "drm_virtgpu_execbuffer");
_Static_assert(sizeof(struct cmagma_drm_virtgpu_execbuffer_syncobj) == 16, "drm_virtgpu_execbuffer_syncobj");
_Static_assert(CMAGMA_DRM_IOWR(0x42, struct cmagma_drm_virtgpu_execbuffer) == 0xC0406442UL, "DRM_IOCTL_VIRTGPU_EXECBUFFER");
_Static_assert(CMAGMA_DRM_IOWR(0x43, struct cmagma_drm_virtgpu_getparam) == 0xC0106443UL, "DRM_IOCTL_VIRTGPU_GETPARAM");
_Static_assert(CMAGMA_DRM_IOWR(0x44, struct cmagma_drm_virtgpu_resource_create) == 0xC0386444UL, "DRM_IOCTL_VIRTGPU_RESOURCE_CREATE");
_Static_assert(CMAGMA_DRM_IOWR(0x49, struct cmagma_drm_virtgpu_get_caps) == 0xC0186449UL, "DRM_IOCTL_VIRTGPU_GET_CAPS");
_Static_assert(CMAGMA_DRM_IOWR(0x4B, struct cmagma_drm_virtgpu_context_init) == 0xC010644BUL, "DRM_IOCTL_VIRTGPU_CONTEXT_INIT");
_Static_assert(sizeof(struct cmagma_drm_virtgpu_resource_info) == 16, "drm_virtgpu_resource_info");
_Static_assert(CMAGMA_DRM_IOWR(0x45, struct cmagma_drm_virtgpu_resource_info) == 0xC0106445UL, "DRM_IOCTL_VIRTGPU_RESOURCE_INFO");

/// ioctl(fd, request, argument), once: its result, or -1 with errno (MagmaDRM's `drmIoctl`
/// retries, as libdrm's drmIoctl does).
int cmagma_ioctl(int fd, unsigned long request, void *argument);

/// UDMABUF_CREATE on `device` (/dev/udmabuf, linux/udmabuf.h), once: a dma-buf (close-on-exec)
/// of `size` bytes of `memfd` from `offset`. Returns the new descriptor, or -1 with errno.
int cmagma_udmabuf_create(int device, int memfd, uint64_t offset, uint64_t size);

/// dup3(fd, target, O_CLOEXEC): puts the open file of `fd` at descriptor number `target`,
/// atomically replacing what was there. Returns target, or -1 with errno set.
int cmagma_drm_replace_descriptor(int fd, int target);

#endif
