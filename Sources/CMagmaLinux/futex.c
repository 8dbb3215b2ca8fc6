#define _GNU_SOURCE
#include "CMagmaLinux.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// Shared (not process-private) futexes on 32-bit words, for state that lives in a memfd page
// several processes map: no FUTEX_PRIVATE_FLAG, so the kernel keys a word by the file page it
// lies on and a wake in one process reaches waiters in every other.

int cmagma_futex_waitv(uint32_t *const *addresses, const uint32_t *expected, int count, uint64_t timeout_nanoseconds) {
    if (count <= 0 || count > CMAGMA_FUTEX_WAITV_MAX) {
        errno = EINVAL;
        return -1;
    }
    struct futex_waitv waiters[CMAGMA_FUTEX_WAITV_MAX];
    for (int i = 0; i < count; i++) {
        waiters[i].val = expected[i];
        waiters[i].uaddr = (uint64_t)(uintptr_t)addresses[i];
        waiters[i].flags = FUTEX_32;
        waiters[i].__reserved = 0;
    }
    struct timespec deadline;
    struct timespec *timeout = NULL;
    if (timeout_nanoseconds != UINT64_MAX) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        uint64_t total = (uint64_t)deadline.tv_nsec + timeout_nanoseconds % 1000000000ull;
        deadline.tv_sec += (time_t)(timeout_nanoseconds / 1000000000ull + total / 1000000000ull);
        deadline.tv_nsec = (long)(total % 1000000000ull);
        timeout = &deadline;
    }
    return (int)syscall(SYS_futex_waitv, waiters, (unsigned)count, 0u, timeout, CLOCK_MONOTONIC);
}

int cmagma_futex_wake_all(uint32_t *address) {
    return (int)syscall(SYS_futex, address, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

uint64_t cmagma_atomic_load_u64(const uint64_t *address) {
    return __atomic_load_n(address, __ATOMIC_SEQ_CST);
}

int cmagma_atomic_compare_exchange_u64(uint64_t *address, uint64_t *expected, uint64_t desired) {
    return __atomic_compare_exchange_n(address, expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

uint32_t cmagma_atomic_load_u32(const uint32_t *address) {
    return __atomic_load_n(address, __ATOMIC_SEQ_CST);
}

int cmagma_atomic_compare_exchange_u32(uint32_t *address, uint32_t *expected, uint32_t desired) {
    return __atomic_compare_exchange_n(address, expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

void cmagma_atomic_store_u32(uint32_t *address, uint32_t value) {
    __atomic_store_n(address, value, __ATOMIC_SEQ_CST);
}

const int cmagma_seal_timeline_bits = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
const int cmagma_seal_write_bits = F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;

int cmagma_memfd_seal_seals(int fd) {
    return fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL);
}
