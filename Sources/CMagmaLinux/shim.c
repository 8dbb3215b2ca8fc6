#define _GNU_SOURCE
#include "CMagmaLinux.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

const int cmagma_seal_size_bits = F_SEAL_SHRINK | F_SEAL_GROW;

int cmagma_memfd_create(const char *name) {
    return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
}

int cmagma_memfd_seal_size(int fd) {
    return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
}

int cmagma_memfd_get_seals(int fd) {
    return fcntl(fd, F_GET_SEALS);
}

int cmagma_eventfd_create(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int cmagma_eventfd_signal(int fd) {
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(fd, &one, sizeof one);
        if (n == (ssize_t)sizeof one) return 0;
        if (n < 0 && errno == EINTR) continue;
        // EAGAIN means the counter is at its maximum: already signaled.
        if (n < 0 && errno == EAGAIN) return 0;
        return -1;
    }
}

int cmagma_eventfd_drain(int fd) {
    uint64_t value = 0;
    for (;;) {
        ssize_t n = read(fd, &value, sizeof value);
        if (n == (ssize_t)sizeof value) return 1;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 0;
        return -1;
    }
}

int cmagma_is_eventfd(int fd) {
    char link[64], target[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0) return fcntl(fd, F_GETFD) < 0 ? -1 : 0;
    target[n] = 0;
    return strcmp(target, "anon_inode:[eventfd]") == 0 ? 1 : 0;
}

uint32_t cmagma_atomic_add_u32(uint32_t *address, uint32_t value) {
    return __atomic_fetch_add(address, value, __ATOMIC_SEQ_CST);
}

void cmagma_set_thread_name(const char *name) {
    char short_name[16];
    snprintf(short_name, sizeof short_name, "%s", name);
    pthread_setname_np(pthread_self(), short_name);
}

int cmagma_commit_range(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length);
}

int cmagma_decommit_range(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

int64_t cmagma_committed_bytes(int fd) {
    struct stat info;
    if (fstat(fd, &info) != 0) return -1;
    return (int64_t)info.st_blocks * 512;
}
