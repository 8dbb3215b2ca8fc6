import Glibc

/// One descriptor to wait on, for readability unless asked otherwise.
public struct PollRequest: Sendable {
    /// The descriptor; it must stay open during the poll.
    public var descriptor: Int32
    /// The poll events waited for: POLLIN, or POLLOUT for room to write.
    public var events: Int16
    /// Creates a request for `events` (POLLIN by default) on `descriptor`.
    public init(descriptor: Int32, events: Int16 = Int16(POLLIN)) {
        self.descriptor = descriptor
        self.events = events
    }
}

/// `poll(2)`, with EINTR retried against the original deadline.
public enum Poller {
    /// Means wait with no deadline.
    public static let forever: UInt64 = .max

    /// Waits until at least one descriptor is ready for its events (or hung up), or the timeout passes.
    /// Returns, per request, whether it is ready. Nanoseconds are rounded up to milliseconds.
    public static func poll(_ requests: [PollRequest], timeoutNanoseconds: UInt64) throws(PlatformError) -> [Bool] {
        var fds = requests.map { pollfd(fd: $0.descriptor, events: $0.events, revents: 0) }
        let deadline = timeoutNanoseconds == forever ? nil : Clock.monotonicNanoseconds() &+ timeoutNanoseconds
        while true {
            let timeoutMs: Int32
            if let deadline {
                let now = Clock.monotonicNanoseconds()
                let remaining = deadline > now ? deadline - now : 0
                timeoutMs = Int32(clamping: (remaining + 999_999) / 1_000_000)
            } else {
                timeoutMs = -1
            }
            let result = fds.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t($0.count), timeoutMs) }
            if result >= 0 {
                let readyMask = Int16(POLLIN | POLLOUT | POLLHUP | POLLERR)
                return fds.map { $0.revents & readyMask != 0 }
            }
            if errno != EINTR { throw PlatformError(call: "poll") }
        }
    }
}

/// Monotonic time.
public enum Clock {
    /// CLOCK_MONOTONIC in nanoseconds.
    public static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}
