// Linux calls and constants that Swift's Glibc module does not expose.
// Each wrapper is out of line and returns -1 with errno set on failure, like the call it wraps,
// and carries no policy: EINTR comes back to the caller (MagmaPlatform's SystemCall retries it).
// The shared-memory atomics at the end are `static inline` instead (see there).
#ifndef CMAGMA_LINUX_H
#define CMAGMA_LINUX_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

/// memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING).
int cmagma_memfd_create(const char *name);

/// Adds F_SEAL_SHRINK | F_SEAL_GROW so the size can never change under the GPU.
int cmagma_memfd_seal_size(int fd);

/// Returns the seals on fd (F_GET_SEALS), or -1 (EINVAL for a descriptor that is not a memfd).
int cmagma_memfd_get_seals(int fd);

/// The F_SEAL_SHRINK | F_SEAL_GROW bits, for comparing with cmagma_memfd_get_seals.
extern const int cmagma_seal_size_bits;

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK): a counter that is readable (signaled) while non-zero.
int cmagma_eventfd_create(void);

/// Adds 1 to the counter; a counter at its maximum stays there. Does not block on an eventfd
/// whose O_NONBLOCK flag is set, as cmagma_eventfd_create sets it: for eventfds this process
/// created, whose flags nobody else controls. Returns 0 (EAGAIN included: the counter is at its
/// maximum, so it is signaled already) or -1 with errno (EINTR among them).
int cmagma_eventfd_signal(int fd);

/// Adds 1 to the counter of an eventfd another process shares; a counter at its maximum stays
/// there. Never blocks, whatever the descriptor's O_NONBLOCK flag (the peer may clear it): a
/// write that would sleep (the counter is at its maximum: signaled) is interrupted by a
/// per-thread timer within 2 ms. The timer's signal is SIGRTMAX - 2, whose handler (a no-op)
/// this installs on first use. Costs two timer_settime calls more than cmagma_eventfd_signal.
/// Returns 0 or -1.
int cmagma_eventfd_signal_shared(int fd);

/// Reads and clears the counter. Never blocks, whatever the descriptor's O_NONBLOCK flag.
/// Returns 1 if it was non-zero, 0 if it was zero, -1 on another error.
int cmagma_eventfd_drain(int fd);

/// Returns 1 if fd is an eventfd, 0 if it is some other file, -1 if it is not open.
int cmagma_is_eventfd(int fd);

/// Allocates backing pages for [offset, offset+length) (fallocate, keeping the size).
int cmagma_commit_range(int fd, int64_t offset, int64_t length);

/// Releases backing pages for [offset, offset+length); they read back as zero.
int cmagma_decommit_range(int fd, int64_t offset, int64_t length);

/// Bytes of the file that have backing pages, or -1.
int64_t cmagma_committed_bytes(int fd);

/// Faults [address, address+length) of a shared mapping in, writable (madvise
/// MADV_POPULATE_WRITE): a memfd's pages there are allocated and count as data for SEEK_DATA
/// (fallocate alone leaves them unwritten, which SEEK_DATA reads as a hole). 0 or -1 with errno.
int cmagma_populate_write(void *address, size_t length);

/// Bytes of [offset, offset+length) of the file that have backing pages (its data ranges, by
/// lseek SEEK_DATA / SEEK_HOLE), or -1 with errno.
int64_t cmagma_committed_bytes_in_range(int fd, int64_t offset, int64_t length);

/// The magic number of the file system `fd`'s file lives on (fstatfs f_type), or -1 with errno.
int64_t cmagma_file_system_type(int fd);

/// Names the calling thread (at most 15 characters are kept).
void cmagma_set_thread_name(const char *name);

/// Atomic 32-bit add on shared memory; returns the previous value.
uint32_t cmagma_atomic_add_u32(uint32_t *address, uint32_t value);

/// The most descriptors one message carries (the protocol's limit): what a receive accepts.
#define CMAGMA_MAX_MESSAGE_FDS 64

/// The most descriptors one send may pass: the kernel's limit (SCM_MAX_FD), so that tests can
/// send more than the protocol allows.
#define CMAGMA_MAX_SEND_FDS 253

/// sendmsg of one datagram with `fd_count` descriptors as SCM_RIGHTS, MSG_NOSIGNAL (a dead peer
/// is EPIPE, not SIGPIPE), and MSG_DONTWAIT if `dont_wait`.
ssize_t cmagma_send_message(int fd, const void *bytes, size_t length, const int *fds, size_t fd_count, int dont_wait);

/// recvmsg of one datagram, receiving descriptors close-on-exec into `fds`. Sets `*truncated`
/// when the datagram or its descriptors did not fit (descriptors that did not fit are closed).
/// Returns the bytes received, 0 at end of stream, or -1.
ssize_t cmagma_receive_message(int fd, void *bytes, size_t capacity, int *fds, size_t fd_capacity,
                               size_t *fd_count, int *truncated, int dont_wait);

/// accept4(fd, NULL, NULL, SOCK_CLOEXEC).
int cmagma_accept(int fd);

/// SO_PEERCRED: the process id, user id and group id of the socket's peer.
int cmagma_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

/// epoll_create1(EPOLL_CLOEXEC).
int cmagma_epoll_create(void);

/// The epoll event bits, for cmagma_epoll_ctl and cmagma_epoll_wait.
extern const uint32_t cmagma_epoll_in;
extern const uint32_t cmagma_epoll_out;
extern const uint32_t cmagma_epoll_hangup;
extern const uint32_t cmagma_epoll_error;
extern const uint32_t cmagma_epoll_oneshot;

/// The epoll_ctl operations.
extern const int cmagma_epoll_add;
extern const int cmagma_epoll_modify;
extern const int cmagma_epoll_delete;

/// epoll_ctl(epfd, op, fd, {events, .data.u64 = token}).
int cmagma_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);

/// epoll_wait into parallel arrays of tokens and event bits (at most `capacity`, and at most 64);
/// returns how many are ready, or -1 with errno.
int cmagma_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int capacity, int timeout_milliseconds);

/// The most words one cmagma_futex_waitv call waits on (the kernel's FUTEX_WAITV_MAX).
#define CMAGMA_FUTEX_WAITV_MAX 128

/// futex_waitv(2) (Linux 5.16 and later) on `count` shared 32-bit words: sleeps while each word
/// `addresses[i]` holds `expected[i]`, until one is woken or `timeout_nanoseconds` pass
/// (UINT64_MAX: no timeout). Returns the index of the word woken, or -1 with errno: EAGAIN when
/// a word no longer held its expected value, ETIMEDOUT, EINTR, ENOSYS on older kernels.
int cmagma_futex_waitv(uint32_t *const *addresses, const uint32_t *expected, int count, uint64_t timeout_nanoseconds);

/// FUTEX_WAKE of every waiter on a shared 32-bit word (in any process); returns how many woke.
int cmagma_futex_wake_all(uint32_t *address);

/// Sequentially consistent atomics on shared memory (another process may write it meanwhile).
uint64_t cmagma_atomic_load_u64(const uint64_t *address);
/// Stores `desired` if `*address` holds `*expected` (returns 1); else loads it into `*expected` (returns 0).
int cmagma_atomic_compare_exchange_u64(uint64_t *address, uint64_t *expected, uint64_t desired);
uint32_t cmagma_atomic_load_u32(const uint32_t *address);
/// As cmagma_atomic_compare_exchange_u64, on 32 bits.
int cmagma_atomic_compare_exchange_u32(uint32_t *address, uint32_t *expected, uint32_t desired);
void cmagma_atomic_store_u32(uint32_t *address, uint32_t value);

/// The seals of a timeline's memfd: F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL.
extern const int cmagma_seal_timeline_bits;
/// F_SEAL_WRITE | F_SEAL_FUTURE_WRITE: memory with either cannot be a timeline (nobody could signal it).
extern const int cmagma_seal_write_bits;

/// Adds F_SEAL_SEAL: no seal can be added or removed after it.
int cmagma_memfd_seal_seals(int fd);

/// Acquire loads, release stores and sequentially consistent operations on words of memory
/// another party shares (a ring's header: another thread, another process, or a guest behind a
/// hypervisor), for the shared-memory rings of MagmaRing. `static inline`, so Swift code built
/// with -O inlines each into one instruction (a plain `mov` on x86-64, `ldar`/`stlr` on arm64)
/// instead of calling out of line. `address` must be naturally aligned.
static inline uint64_t cmagma_load_acquire_u64(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_ACQUIRE);
}
static inline void cmagma_store_release_u64(void *address, uint64_t value) {
    __atomic_store_n((uint64_t *)address, value, __ATOMIC_RELEASE);
}
static inline uint32_t cmagma_load_acquire_u32(const void *address) {
    return __atomic_load_n((const uint32_t *)address, __ATOMIC_ACQUIRE);
}
static inline void cmagma_store_release_u32(void *address, uint32_t value) {
    __atomic_store_n((uint32_t *)address, value, __ATOMIC_RELEASE);
}
/// 16-bit acquire loads and release stores, for a split virtqueue's ring indices (virtio's
/// avail and used rings keep 16-bit indices in memory the guest shares). `address` must be
/// 2-byte aligned.
static inline uint16_t cmagma_load_acquire_u16(const void *address) {
    return __atomic_load_n((const uint16_t *)address, __ATOMIC_ACQUIRE);
}
static inline void cmagma_store_release_u16(void *address, uint16_t value) {
    __atomic_store_n((uint16_t *)address, value, __ATOMIC_RELEASE);
}
/// A full fence: stores before it are visible before loads after it are made (a device
/// publishing used entries, then reading whether the driver wants an interrupt).
static inline void cmagma_fence_seq_cst(void) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
/// Sequentially consistent: a store followed by a load of another word is never reordered
/// (the store-then-check both sides of a sleep/wake handshake need).
static inline uint64_t cmagma_load_seq_cst_u64(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_SEQ_CST);
}
static inline void cmagma_store_seq_cst_u64(void *address, uint64_t value) {
    __atomic_store_n((uint64_t *)address, value, __ATOMIC_SEQ_CST);
}
static inline uint32_t cmagma_load_seq_cst_u32(const void *address) {
    return __atomic_load_n((const uint32_t *)address, __ATOMIC_SEQ_CST);
}
static inline void cmagma_store_seq_cst_u32(void *address, uint32_t value) {
    __atomic_store_n((uint32_t *)address, value, __ATOMIC_SEQ_CST);
}
/// Stores `desired` if the word holds `expected`; returns the value it held (== expected: stored).
static inline uint32_t cmagma_compare_exchange_seq_cst_u32(void *address, uint32_t expected, uint32_t desired) {
    __atomic_compare_exchange_n((uint32_t *)address, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;
}
/// A hint to the CPU that this is a spin-wait loop (`pause` on x86, `yield` on arm64).
static inline void cmagma_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

#endif
