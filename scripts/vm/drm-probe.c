/*
 * The VM harness's self-test: proves the guest reaches real kernel DRM drivers (vgem and
 * virtio_gpu) through the ioctls Magma's DRM backend will use. Not the backend's test suite.
 *
 * Built on the host by run-guest-tests.sh against the guest kernel's UAPI headers
 * (linux-headers-<ver>-common: include/uapi/drm, with -D__user=) and run in the guest as root.
 * Prints one line per check ("ok   ..." or "FAIL ...") and exits 1 if any check failed.
 *
 * Expectations come from shared/reference/vm-drm-facts.md: vgem and virtio_gpu both present;
 * dumb buffers on vgem's card node (EACCES on its render node); PRIME export and dma-buf mmap;
 * syncobjs on virtio_gpu from 6.12 (EOPNOTSUPP on 6.1), never on vgem.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <drm/drm.h>
#include <drm/drm_mode.h>
#include <linux/dma-buf.h>

static int failures;

/* Records one check: ok when cond holds, else FAIL with the formatted detail. */
static int check(int cond, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", cond ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!cond) failures++;
    return cond;
}

/* ioctl retried on EINTR/EAGAIN, as libdrm's drmIoctl does; returns 0 or the errno. */
static int xioctl(int fd, unsigned long request, void *arg) {
    int r;
    do r = ioctl(fd, request, arg); while (r == -1 && (errno == EINTR || errno == EAGAIN));
    return r == 0 ? 0 : errno;
}

/* One DRM node: path, open fd, driver name and the capabilities this probe reads. */
struct node {
    char path[272];
    int fd;
    char name[64];
    int major, minor, patch;
    uint64_t prime, syncobj, timeline;
};

static uint64_t get_cap(struct node *n, uint64_t cap, const char *label) {
    struct drm_get_cap c = { .capability = cap };
    int e = xioctl(n->fd, DRM_IOCTL_GET_CAP, &c);
    check(e == 0, "%s GET_CAP %s = %llu%s%s", n->path, label, (unsigned long long)c.value,
          e ? ": " : "", e ? strerror(e) : "");
    return e ? 0 : c.value;
}

static int probe_node(struct node *n) {
    n->fd = open(n->path, O_RDWR | O_CLOEXEC);
    if (!check(n->fd >= 0, "open %s%s%s", n->path, n->fd < 0 ? ": " : "", n->fd < 0 ? strerror(errno) : ""))
        return 0;
    struct drm_version v = {0};
    int e = xioctl(n->fd, DRM_IOCTL_VERSION, &v); /* lengths first, then the name */
    if (e == 0 && v.name_len < sizeof n->name) {
        v.name = n->name;
        v.date_len = v.desc_len = 0;
        e = xioctl(n->fd, DRM_IOCTL_VERSION, &v);
        n->name[v.name_len] = 0;
    }
    if (!check(e == 0 && v.name_len < sizeof n->name, "%s VERSION: \"%s\" %d.%d.%d%s%s", n->path, n->name,
               v.version_major, v.version_minor, v.version_patchlevel, e ? ": " : "", e ? strerror(e) : ""))
        return 0;
    n->major = v.version_major, n->minor = v.version_minor, n->patch = v.version_patchlevel;
    n->prime = get_cap(n, DRM_CAP_PRIME, "PRIME");
    n->syncobj = get_cap(n, DRM_CAP_SYNCOBJ, "SYNCOBJ");
    n->timeline = get_cap(n, DRM_CAP_SYNCOBJ_TIMELINE, "SYNCOBJ_TIMELINE");
    check((n->prime & (DRM_PRIME_CAP_IMPORT | DRM_PRIME_CAP_EXPORT)) == (DRM_PRIME_CAP_IMPORT | DRM_PRIME_CAP_EXPORT),
          "%s (%s) PRIME import and export", n->path, n->name);
    return 1;
}

static struct node *find(struct node *nodes, int count, const char *driver, const char *prefix) {
    for (int i = 0; i < count; i++)
        if (nodes[i].fd >= 0 && strcmp(nodes[i].name, driver) == 0 && strstr(nodes[i].path, prefix))
            return &nodes[i];
    return NULL;
}

/* vgem: dumb buffer on the card node, mapped; PRIME export; the dma-buf mapped and synced. */
static void vgem_buffers(struct node *card, struct node *render) {
    struct drm_mode_create_dumb denied = { .width = 64, .height = 64, .bpp = 32 };
    int e = xioctl(render->fd, DRM_IOCTL_MODE_CREATE_DUMB, &denied);
    check(e == EACCES, "vgem CREATE_DUMB on the render node is EACCES (got %s)", e ? strerror(e) : "success");

    struct drm_mode_create_dumb dumb = { .width = 64, .height = 64, .bpp = 32 };
    e = xioctl(card->fd, DRM_IOCTL_MODE_CREATE_DUMB, &dumb);
    if (!check(e == 0 && dumb.size >= 64 * 64 * 4, "vgem CREATE_DUMB 64x64x32 on %s: handle %u pitch %u size %llu%s%s",
               card->path, dumb.handle, dumb.pitch, (unsigned long long)dumb.size, e ? ": " : "", e ? strerror(e) : ""))
        return;
    size_t size = dumb.size;
    struct drm_mode_map_dumb map = { .handle = dumb.handle };
    e = xioctl(card->fd, DRM_IOCTL_MODE_MAP_DUMB, &map);
    uint32_t *cpu = MAP_FAILED;
    if (check(e == 0, "vgem MAP_DUMB: offset 0x%llx%s%s", (unsigned long long)map.offset, e ? ": " : "", e ? strerror(e) : "")) {
        cpu = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, card->fd, (off_t)map.offset);
        check(cpu != MAP_FAILED, "vgem mmap of the dumb buffer%s%s", cpu == MAP_FAILED ? ": " : "", cpu == MAP_FAILED ? strerror(errno) : "");
    }
    if (cpu != MAP_FAILED)
        for (size_t i = 0; i < size / 4; i++) cpu[i] = 0xA5000000u | (uint32_t)i;

    struct drm_prime_handle prime = { .handle = dumb.handle, .flags = DRM_CLOEXEC | DRM_RDWR, .fd = -1 };
    e = xioctl(card->fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &prime);
    if (check(e == 0 && prime.fd >= 0, "vgem PRIME_HANDLE_TO_FD: dma-buf fd %d%s%s", prime.fd, e ? ": " : "", e ? strerror(e) : "")) {
        struct drm_prime_handle back = { .fd = prime.fd };
        e = xioctl(card->fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &back);
        check(e == 0 && back.handle == dumb.handle, "vgem PRIME_FD_TO_HANDLE gives the same handle (%u)%s%s",
              back.handle, e ? ": " : "", e ? strerror(e) : "");
        uint32_t *shared = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, prime.fd, 0);
        if (check(shared != MAP_FAILED, "mmap of the dma-buf%s%s", shared == MAP_FAILED ? ": " : "", shared == MAP_FAILED ? strerror(errno) : "")) {
            struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW };
            check(xioctl(prime.fd, DMA_BUF_IOCTL_SYNC, &sync) == 0, "DMA_BUF_IOCTL_SYNC start");
            int same = cpu != MAP_FAILED;
            for (size_t i = 0; same && i < size / 4; i++) same = shared[i] == (0xA5000000u | (uint32_t)i);
            check(same, "the dma-buf mapping shows what was written through the dumb mapping");
            for (size_t i = 0; i < size / 4; i++) shared[i] = ~(uint32_t)i;
            sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
            check(xioctl(prime.fd, DMA_BUF_IOCTL_SYNC, &sync) == 0, "DMA_BUF_IOCTL_SYNC end");
            same = cpu != MAP_FAILED;
            for (size_t i = 0; same && i < size / 4; i++) same = cpu[i] == ~(uint32_t)i;
            check(same, "the dumb mapping shows what was written through the dma-buf");
            munmap(shared, size);
        }
        close(prime.fd);
    }
    if (cpu != MAP_FAILED) munmap(cpu, size);
    struct drm_mode_destroy_dumb destroy = { .handle = dumb.handle };
    e = xioctl(card->fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
    check(e == 0, "vgem DESTROY_DUMB%s%s", e ? ": " : "", e ? strerror(e) : "");
    e = xioctl(card->fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
    check(e == EINVAL || e == ENOENT, "vgem DESTROY_DUMB again is EINVAL or ENOENT (got %s)", e ? strerror(e) : "success");
}

static int64_t deadline_ns(int64_t from_now) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec + from_now;
}

/* Syncobjs where the driver has them: binary create/wait/signal, timeline signal/query/wait. */
static void syncobjs(struct node *n) {
    struct drm_syncobj_create create = {0};
    int e = xioctl(n->fd, DRM_IOCTL_SYNCOBJ_CREATE, &create);
    if (!check(e == 0, "%s SYNCOBJ_CREATE: handle %u%s%s", n->name, create.handle, e ? ": " : "", e ? strerror(e) : ""))
        return;
    uint32_t h = create.handle;
    struct drm_syncobj_wait wait = { .handles = (uintptr_t)&h, .count_handles = 1,
        .flags = DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT, .timeout_nsec = deadline_ns(20000000) };
    e = xioctl(n->fd, DRM_IOCTL_SYNCOBJ_WAIT, &wait);
    check(e == ETIME, "%s SYNCOBJ_WAIT on an unsignalled syncobj is ETIME (got %s)", n->name, e ? strerror(e) : "success");
    struct drm_syncobj_array array = { .handles = (uintptr_t)&h, .count_handles = 1 };
    e = xioctl(n->fd, DRM_IOCTL_SYNCOBJ_SIGNAL, &array);
    check(e == 0, "%s SYNCOBJ_SIGNAL%s%s", n->name, e ? ": " : "", e ? strerror(e) : "");
    wait.timeout_nsec = deadline_ns(1000000000);
    e = xioctl(n->fd, DRM_IOCTL_SYNCOBJ_WAIT, &wait);
    check(e == 0, "%s SYNCOBJ_WAIT after the signal%s%s", n->name, e ? ": " : "", e ? strerror(e) : "");

    if (n->timeline) {
        uint64_t point = 5, queried = 0;
        struct drm_syncobj_create tcreate = {0};
        e = xioctl(n->fd, DRM_IOCTL_SYNCOBJ_CREATE, &tcreate);
        if (check(e == 0, "%s SYNCOBJ_CREATE (timeline)%s%s", n->name, e ? ": " : "", e ? strerror(e) : "")) {
            uint32_t t = tcreate.handle;
            struct drm_syncobj_timeline_array ta = { .handles = (uintptr_t)&t, .points = (uintptr_t)&point, .count_handles = 1 };
            e = xioctl(n->fd, DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL, &ta);
            check(e == 0, "%s SYNCOBJ_TIMELINE_SIGNAL point 5%s%s", n->name, e ? ": " : "", e ? strerror(e) : "");
            ta.points = (uintptr_t)&queried;
            e = xioctl(n->fd, DRM_IOCTL_SYNCOBJ_QUERY, &ta);
            check(e == 0 && queried == 5, "%s SYNCOBJ_QUERY = %llu%s%s", n->name, (unsigned long long)queried, e ? ": " : "", e ? strerror(e) : "");
            struct drm_syncobj_timeline_wait tw = { .handles = (uintptr_t)&t, .points = (uintptr_t)&point,
                .count_handles = 1, .timeout_nsec = deadline_ns(1000000000) };
            e = xioctl(n->fd, DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT, &tw);
            check(e == 0, "%s SYNCOBJ_TIMELINE_WAIT point 5%s%s", n->name, e ? ": " : "", e ? strerror(e) : "");
            struct drm_syncobj_destroy td = { .handle = t };
            check(xioctl(n->fd, DRM_IOCTL_SYNCOBJ_DESTROY, &td) == 0, "%s SYNCOBJ_DESTROY (timeline)", n->name);
        }
    }
    struct drm_syncobj_destroy destroy = { .handle = h };
    e = xioctl(n->fd, DRM_IOCTL_SYNCOBJ_DESTROY, &destroy);
    check(e == 0, "%s SYNCOBJ_DESTROY%s%s", n->name, e ? ": " : "", e ? strerror(e) : "");
    e = xioctl(n->fd, DRM_IOCTL_SYNCOBJ_DESTROY, &destroy);
    check(e == EINVAL, "%s SYNCOBJ_DESTROY again is EINVAL (got %s)", n->name, e ? strerror(e) : "success");
}

/* A driver without DRIVER_SYNCOBJ refuses syncobj ioctls with EOPNOTSUPP. */
static void no_syncobjs(struct node *n) {
    struct drm_syncobj_create create = {0};
    int e = xioctl(n->fd, DRM_IOCTL_SYNCOBJ_CREATE, &create);
    check(e == EOPNOTSUPP, "%s SYNCOBJ_CREATE is EOPNOTSUPP (got %s)", n->name, e ? strerror(e) : "success");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct utsname u;
    uname(&u);
    int kmajor = 0, kminor = 0;
    sscanf(u.release, "%d.%d", &kmajor, &kminor);
    printf("drm-probe on kernel %s\n", u.release);

    struct node nodes[32];
    int count = 0;
    DIR *dir = opendir("/dev/dri");
    if (!check(dir != NULL, "/dev/dri exists%s%s", dir ? "" : ": ", dir ? "" : strerror(errno))) return 1;
    for (struct dirent *d; (d = readdir(dir)) && count < 32;) {
        if (strncmp(d->d_name, "card", 4) && strncmp(d->d_name, "renderD", 7)) continue;
        memset(&nodes[count], 0, sizeof nodes[count]);
        snprintf(nodes[count].path, sizeof nodes[count].path, "/dev/dri/%s", d->d_name);
        probe_node(&nodes[count]);
        count++;
    }
    closedir(dir);

    struct node *vgem_card = find(nodes, count, "vgem", "card"), *vgem_render = find(nodes, count, "vgem", "renderD");
    struct node *virtio_render = find(nodes, count, "virtio_gpu", "renderD");
    check(vgem_card && vgem_render, "vgem has a card and a render node");
    check(virtio_render && find(nodes, count, "virtio_gpu", "card"), "virtio_gpu has a card and a render node");

    int at_least_6_12 = kmajor > 6 || (kmajor == 6 && kminor >= 12), is_6_1 = kmajor == 6 && kminor == 1;
    if (vgem_render) {
        check(vgem_render->syncobj == 0 && vgem_render->timeline == 0, "vgem has no syncobjs (cap SYNCOBJ %llu)",
              (unsigned long long)vgem_render->syncobj);
        no_syncobjs(vgem_render);
    }
    if (vgem_card && vgem_render) vgem_buffers(vgem_card, vgem_render);
    if (virtio_render) {
        if (at_least_6_12)
            check(virtio_render->syncobj == 1 && virtio_render->timeline == 1, "virtio_gpu has binary and timeline syncobjs on %d.%d", kmajor, kminor);
        else if (is_6_1)
            check(virtio_render->syncobj == 0, "virtio_gpu has no syncobjs on 6.1");
        else
            printf("note virtio_gpu syncobj expectations are recorded for 6.1 and 6.12+ only\n");
        if (virtio_render->syncobj) syncobjs(virtio_render); else no_syncobjs(virtio_render);
    }
    for (int i = 0; i < count; i++)
        if (nodes[i].fd >= 0) close(nodes[i].fd);
    printf("drm-probe: %s (%d failed)\n", failures ? "FAILED" : "passed", failures);
    return failures ? 1 : 0;
}
