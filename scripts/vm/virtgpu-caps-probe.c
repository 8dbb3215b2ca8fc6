/*
 * The vhost-user-gpu step's guest probe: proves the guest's virtio_gpu driver bound to QEMU's
 * vhost-user-gpu-pci, served by magma-vhost-user-gpu on the host (docs/vhost-user.md), and that
 * DRM_IOCTL_VIRTGPU_GET_CAPS of capset 7 (Magma) returns the device's capset.
 *
 * Built on the host by vhost-user-gpu-probe.sh against the guest kernel's UAPI headers (with
 * -D__user=) and run in the guest. Prints one line per check ("ok   ..." or "FAIL ...") and exits
 * 1 if any check failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <drm/drm.h>
#include <drm/virtgpu_drm.h>

static int failures;

static void check(int cond, const char *what, long detail) {
    printf("%s %s (%ld)\n", cond ? "ok  " : "FAIL", what, detail);
    if (!cond) failures++;
}

/* The render node whose driver is virtio_gpu, opened; -1 if none. */
static int open_virtio_gpu(void) {
    for (int minor = 128; minor < 136; minor++) {
        char path[64];
        snprintf(path, sizeof path, "/dev/dri/renderD%d", minor);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) continue;
        char name[32] = {0};
        struct drm_version version = {.name = name, .name_len = sizeof name - 1};
        if (ioctl(fd, DRM_IOCTL_VERSION, &version) == 0 && strcmp(name, "virtio_gpu") == 0) {
            printf("ok   %s is virtio_gpu\n", path);
            return fd;
        }
        close(fd);
    }
    return -1;
}

static long getparam(int fd, uint64_t param) {
    int value = 0;
    struct drm_virtgpu_getparam request = {.param = param, .value = (uint64_t)(uintptr_t)&value};
    return ioctl(fd, DRM_IOCTL_VIRTGPU_GETPARAM, &request) == 0 ? value : -errno;
}

int main(void) {
    int fd = open_virtio_gpu();
    check(fd >= 0, "a virtio_gpu render node", fd);
    if (fd < 0) return 1;
    check(getparam(fd, VIRTGPU_PARAM_3D_FEATURES) == 1, "3D features (VIRGL negotiated)", getparam(fd, VIRTGPU_PARAM_3D_FEATURES));
    check(getparam(fd, VIRTGPU_PARAM_CAPSET_QUERY_FIX) == 1, "capset query fix", getparam(fd, VIRTGPU_PARAM_CAPSET_QUERY_FIX));
    uint8_t capset[4096];
    memset(capset, 0, sizeof capset);
    struct drm_virtgpu_get_caps caps = {.cap_set_id = 7, .cap_set_ver = 1, .addr = (uint64_t)(uintptr_t)capset, .size = sizeof capset};
    int rc = ioctl(fd, DRM_IOCTL_VIRTGPU_GET_CAPS, &caps);
    check(rc == 0, "GET_CAPS of capset 7", rc == 0 ? 0 : -errno);
    if (rc == 0) {
        /* The capset message (protocol/magma.json's virtio_capset) starts with its length. */
        uint32_t length;
        memcpy(&length, capset, sizeof length);
        check(length >= 24 && length <= sizeof capset, "a capset message of plausible length", length);
        printf("capset 7 first bytes:");
        for (int i = 0; i < 32; i++) printf(" %02x", capset[i]);
        printf("\n");
    }
    struct drm_virtgpu_get_caps other = {.cap_set_id = 1, .cap_set_ver = 1, .addr = (uint64_t)(uintptr_t)capset, .size = 64};
    rc = ioctl(fd, DRM_IOCTL_VIRTGPU_GET_CAPS, &other);
    check(rc != 0, "GET_CAPS of capset 1 (virgl) refused: the device has only Magma's", rc == 0 ? 0 : -errno);
    close(fd);
    return failures ? 1 : 0;
}
