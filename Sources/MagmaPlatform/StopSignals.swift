import Glibc

/// SIGTERM and SIGINT, blocked so that a server's thread can wait for them with `sigwait`
/// instead of a handler interrupting whatever runs.
public struct StopSignals: @unchecked Sendable {
    private let set: sigset_t

    /// Blocks SIGTERM and SIGINT in the calling thread (and the threads it starts from now on).
    public static func block() -> StopSignals {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        return StopSignals(set: set)
    }

    /// Waits until one of them arrives; returns which.
    public func wait() -> Int32 {
        var set = self.set
        var received: Int32 = 0
        sigwait(&set, &received)
        return received
    }
}
