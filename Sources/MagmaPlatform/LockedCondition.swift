import Glibc

/// A value guarded by a pthread mutex, with a condition variable to wait for it to change: a
/// thread waits with the mutex released, so no lock is held while it sleeps.
///
/// Each access to the value is a closure call of its own, and none spans a wait, so the value
/// is never borrowed while another thread changes it.
public final class LockedCondition<Value>: @unchecked Sendable {
    private let mutex = PthreadMutex()
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var value: Value

    /// Guards `value`.
    public init(_ value: Value) {
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        self.value = value
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    /// Runs `body` with exclusive access to the value. Not reentrant.
    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&value)
    }

    /// Calls `check` with exclusive access until it returns a result, sleeping between calls
    /// (with the mutex released) until `broadcast()` or the deadline. Returns nil if the
    /// deadline passed first.
    public func wait<Result>(until deadline: Deadline, _ check: (inout Value) -> Result?) -> Result? {
        mutex.lock()
        defer { mutex.unlock() }
        while true {
            if let result = check(&value) { return result }
            guard let end = deadline.nanoseconds else {
                pthread_cond_wait(condition, mutex.pointer)
                continue
            }
            if Clock.monotonicNanoseconds() >= end { return nil }
            var time = timespec(tv_sec: Int(end / 1_000_000_000), tv_nsec: Int(end % 1_000_000_000))
            _ = pthread_cond_timedwait(condition, mutex.pointer, &time)
        }
    }

    /// Wakes every thread waiting in `wait(until:_:)` to check again.
    public func broadcast() {
        mutex.lock()
        pthread_cond_broadcast(condition)
        mutex.unlock()
    }
}
