#define _GNU_SOURCE
#include "CMagmaLinux.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

ssize_t cmagma_send_message(int fd, const void *bytes, size_t length, const int *fds, size_t fd_count, int dont_wait) {
    struct iovec io = { .iov_base = (void *)bytes, .iov_len = length };
    struct msghdr message = { .msg_iov = &io, .msg_iovlen = 1 };
    union {
        char buffer[CMSG_SPACE(sizeof(int) * CMAGMA_MAX_SEND_FDS)];
        struct cmsghdr align;
    } control;
    if (fd_count > CMAGMA_MAX_SEND_FDS) {
        errno = EINVAL;
        return -1;
    }
    if (fd_count > 0) {
        memset(&control, 0, sizeof(control));
        message.msg_control = control.buffer;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
        memcpy(CMSG_DATA(header), fds, sizeof(int) * fd_count);
    }
    return sendmsg(fd, &message, MSG_NOSIGNAL | (dont_wait ? MSG_DONTWAIT : 0));
}

ssize_t cmagma_receive_message(int fd, void *bytes, size_t capacity, int *fds, size_t fd_capacity,
                               size_t *fd_count, int *truncated, int dont_wait) {
    struct iovec io = { .iov_base = bytes, .iov_len = capacity };
    union {
        char buffer[CMSG_SPACE(sizeof(int) * CMAGMA_MAX_MESSAGE_FDS)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr message = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = control.buffer,
                              .msg_controllen = sizeof(control.buffer) };
    ssize_t received = recvmsg(fd, &message, MSG_CMSG_CLOEXEC | (dont_wait ? MSG_DONTWAIT : 0));
    *fd_count = 0;
    *truncated = 0;
    if (received < 0) return received;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(header);
        for (size_t index = 0; index < count; index++) {
            int received_fd;
            memcpy(&received_fd, data + index * sizeof(int), sizeof(int));
            if (*fd_count < fd_capacity) {
                fds[(*fd_count)++] = received_fd;
            } else {
                close(received_fd);
                *truncated = 1;
            }
        }
    }
    if (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) *truncated = 1;
    return received;
}

int cmagma_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}

int cmagma_accept(int fd) {
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}
