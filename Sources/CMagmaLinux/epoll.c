#define _GNU_SOURCE
#include "CMagmaLinux.h"

#include <errno.h>
#include <sys/epoll.h>

const uint32_t cmagma_epoll_in = EPOLLIN;
const uint32_t cmagma_epoll_out = EPOLLOUT;
const uint32_t cmagma_epoll_hangup = EPOLLHUP;
const uint32_t cmagma_epoll_error = EPOLLERR;
const uint32_t cmagma_epoll_oneshot = EPOLLONESHOT;

const int cmagma_epoll_add = EPOLL_CTL_ADD;
const int cmagma_epoll_modify = EPOLL_CTL_MOD;
const int cmagma_epoll_delete = EPOLL_CTL_DEL;

int cmagma_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

int cmagma_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event = { .events = events, .data = { .u64 = token } };
    return epoll_ctl(epfd, op, fd, &event);
}

#define CMAGMA_EPOLL_BATCH 64

int cmagma_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int capacity, int timeout_milliseconds) {
    struct epoll_event ready[CMAGMA_EPOLL_BATCH];
    if (capacity > CMAGMA_EPOLL_BATCH) capacity = CMAGMA_EPOLL_BATCH;
    int count = epoll_wait(epfd, ready, capacity, timeout_milliseconds);
    if (count < 0) return -1;
    for (int index = 0; index < count; index++) {
        tokens[index] = ready[index].data.u64;
        events[index] = ready[index].events;
    }
    return count;
}
