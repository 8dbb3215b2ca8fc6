#include "CMagmaDRM.h"

#include <errno.h>
#include <sys/ioctl.h>

int cmagma_drm_ioctl(int fd, unsigned long request, void *argument) {
    int result;
    do {
        result = ioctl(fd, request, argument);
    } while (result == -1 && (errno == EINTR || errno == EAGAIN));
    return result == -1 ? errno : 0;
}
