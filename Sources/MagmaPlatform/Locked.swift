import Glibc

/// A value guarded by a pthread mutex.
///
/// Used instead of `Synchronization.Mutex` for shared state: on Linux, `Mutex` blocks in
/// priority-inheritance futexes inside uninstrumented library code, so under contention the
/// thread sanitizer cannot see its ordering and reports races that are not there (measured:
/// four threads contending one `Mutex` give five false reports). pthread mutexes are
/// intercepted by the sanitizer, so `swift test --sanitize=thread` stays meaningful.
public final class Locked<Value>: @unchecked Sendable {
    private let mutex = PthreadMutex()
    /// Only `withLock` touches it, holding the mutex, so the runtime's exclusivity check
    /// (about 300 instructions per call, measured under callgrind) proves nothing the mutex
    /// does not already guarantee.
    @exclusivity(unchecked) private var value: Value

    /// Guards `value`.
    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with exclusive access to the value. Not reentrant.
    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&value)
    }
}
