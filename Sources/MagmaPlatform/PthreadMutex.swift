import Glibc

/// A pthread mutex at a fixed address (a pthread mutex must not move), owned by the one lock
/// type that holds it (`Locked`, `LockedCondition`) and destroyed with it.
struct PthreadMutex: ~Copyable {
    /// The mutex, for calls that take it (`pthread_cond_wait`).
    let pointer: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: pthread_mutex_t())
        pthread_mutex_init(pointer, nil)
    }

    deinit {
        pthread_mutex_destroy(pointer)
        pointer.deallocate()
    }

    func lock() { pthread_mutex_lock(pointer) }

    func unlock() { pthread_mutex_unlock(pointer) }
}
