#define _GNU_SOURCE
#include "CMagmaDRM.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

int cmagma_ioctl(int fd, unsigned long request, void *argument) {
    return ioctl(fd, request, argument);
}

struct cmagma_udmabuf_create {
    uint32_t memfd;
    uint32_t flags;
    uint64_t offset;
    uint64_t size;
};
_Static_assert(sizeof(struct cmagma_udmabuf_create) == 24, "struct udmabuf_create");
_Static_assert(_IOC(_IOC_WRITE, 'u', 0x42, sizeof(struct cmagma_udmabuf_create)) == 0x40187542, "UDMABUF_CREATE");

int cmagma_udmabuf_create(int device, int memfd, uint64_t offset, uint64_t size) {
    struct cmagma_udmabuf_create create = { .memfd = (uint32_t)memfd, .flags = 0x01 /* UDMABUF_FLAGS_CLOEXEC */, .offset = offset, .size = size };
    return ioctl(device, _IOC(_IOC_WRITE, 'u', 0x42, sizeof(create)), &create);
}

int cmagma_drm_replace_descriptor(int fd, int target) {
    return dup3(fd, target, O_CLOEXEC);
}
