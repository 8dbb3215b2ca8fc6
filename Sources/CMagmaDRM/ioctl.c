#define _GNU_SOURCE
#include "CMagmaDRM.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

int cmagma_drm_ioctl(int fd, unsigned long request, void *argument) {
    int result;
    do {
        result = ioctl(fd, request, argument);
    } while (result == -1 && (errno == EINTR || errno == EAGAIN));
    return result == -1 ? errno : 0;
}

int cmagma_drm_replace_descriptor(int fd, int target) {
    return dup3(fd, target, O_CLOEXEC);
}
