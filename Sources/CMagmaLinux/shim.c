#define _GNU_SOURCE
#include "CMagmaLinux.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>
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

// Reading or writing an eventfd that a peer process shares must never block this process: the
// peer can clear O_NONBLOCK on the open file description at any time, and can set the counter
// to its maximum (a write then blocks) or read it empty (a read then blocks). So no call here
// relies on the descriptor's flags:
// - reads use preadv2(RWF_NOWAIT), which never sleeps (Linux 5.12 and later);
// - writes, and reads on kernels without RWF_NOWAIT for eventfds, run under a per-thread
//   interval timer that interrupts a call that sleeps with a no-op signal (EINTR). An eventfd
//   write of 1 sleeps only while the counter is at its maximum, which is signaled; a read
//   sleeps only while the counter is 0, which is not signaled: either way the interrupted
//   call's answer is known.

/// The signal that interrupts a guarded call; its handler does nothing.
#define CMAGMA_GUARD_SIGNAL (SIGRTMAX - 2)
/// How long a guarded call may sleep before it is interrupted (and again every period after).
#define CMAGMA_GUARD_NANOSECONDS 2000000

static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static pthread_key_t guard_key;
static __thread int guard_state;   // 0: not set up on this thread, 1: ready, -1: unavailable
static __thread timer_t guard_timer;

static void guard_interrupted(int signal) { (void)signal; }

static void guard_delete_timer(void *value) { timer_delete((timer_t)((intptr_t)value - 1)); }

/// A forked child has no timers: its only thread sets its own up again.
static void guard_forget_after_fork(void) { guard_state = 0; }

static void guard_install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = guard_interrupted;   // no SA_RESTART: the sleeping call fails with EINTR
    sigemptyset(&action.sa_mask);
    sigaction(CMAGMA_GUARD_SIGNAL, &action, NULL);
    pthread_key_create(&guard_key, guard_delete_timer);
    pthread_atfork(NULL, NULL, guard_forget_after_fork);
}

/// Sets up this thread's guard timer once; returns whether the thread has one.
static int guard_ready(void) {
    pthread_once(&guard_once, guard_install);
    if (guard_state != 0) return guard_state > 0;
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = CMAGMA_GUARD_SIGNAL;
    event._sigev_un._tid = gettid();   // sigev_notify_thread_id, which older headers lack
    if (timer_create(CLOCK_MONOTONIC, &event, &guard_timer) != 0) {
        guard_state = -1;
        return 0;
    }
    sigset_t unblocked;
    sigemptyset(&unblocked);
    sigaddset(&unblocked, CMAGMA_GUARD_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &unblocked, NULL);
    pthread_setspecific(guard_key, (void *)((intptr_t)guard_timer + 1));
    guard_state = 1;
    return 1;
}

/// One read or write of the counter that cannot sleep for more than a guard period. Without a
/// timer (timer_create failed), the call is made only if poll says it would not sleep now.
static ssize_t guarded_eventfd_io(int fd, uint64_t *value, int writing) {
    if (!guard_ready()) {
        struct pollfd ready = { .fd = fd, .events = writing ? POLLOUT : POLLIN };
        if (poll(&ready, 1, 0) != 1 || !(ready.revents & ready.events)) {
            errno = EAGAIN;
            return -1;
        }
    }
    struct itimerspec armed = { .it_interval = { 0, CMAGMA_GUARD_NANOSECONDS }, .it_value = { 0, CMAGMA_GUARD_NANOSECONDS } };
    struct itimerspec disarmed;
    memset(&disarmed, 0, sizeof disarmed);
    if (guard_state > 0) timer_settime(guard_timer, 0, &armed, NULL);
    ssize_t n = writing ? write(fd, value, sizeof *value) : read(fd, value, sizeof *value);
    int saved = errno;
    if (guard_state > 0) timer_settime(guard_timer, 0, &disarmed, NULL);
    errno = saved;
    return n;
}

int cmagma_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    if (n == (ssize_t)sizeof one) return 0;
    // EAGAIN means the counter is at its maximum: already signaled.
    if (n < 0 && errno == EAGAIN) return 0;
    return -1;
}

int cmagma_eventfd_signal_shared(int fd) {
    uint64_t one = 1;
    ssize_t n = guarded_eventfd_io(fd, &one, 1);
    if (n == (ssize_t)sizeof one) return 0;
    // EAGAIN or EINTR: the counter is at its maximum, so the semaphore is signaled already.
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    return -1;
}

int cmagma_eventfd_drain(int fd) {
    uint64_t value = 0;
    struct iovec vector = { .iov_base = &value, .iov_len = sizeof value };
    ssize_t n = preadv2(fd, &vector, 1, -1, RWF_NOWAIT);
    if (n < 0 && errno == EOPNOTSUPP) n = guarded_eventfd_io(fd, &value, 0);
    if (n == (ssize_t)sizeof value) return 1;
    // EAGAIN or EINTR: the counter is 0, so the semaphore was not signaled.
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    return -1;
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

int64_t cmagma_file_system_type(int fd) {
    struct statfs info;
    if (fstatfs(fd, &info) != 0) return -1;
    return (int64_t)info.f_type;
}

int64_t cmagma_committed_bytes(int fd) {
    struct stat info;
    if (fstat(fd, &info) != 0) return -1;
    return (int64_t)info.st_blocks * 512;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   /* Linux 5.14 */
#endif

int cmagma_populate_write(void *address, size_t length) {
    return madvise(address, length, MADV_POPULATE_WRITE);
}

int64_t cmagma_committed_bytes_in_range(int fd, int64_t offset, int64_t length) {
    int64_t end = offset + length, committed = 0, position = offset;
    while (position < end) {
        off_t data = lseek(fd, position, SEEK_DATA);
        if (data < 0) return errno == ENXIO ? committed : -1;   /* ENXIO: no data past position */
        if (data >= end) break;
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0) return -1;
        committed += (hole < end ? hole : end) - data;
        position = hole;
    }
    return committed;
}
