import Glibc
import SystemPackage

/// One descriptor to wait on, for readability unless asked otherwise.
public struct PollRequest: Sendable {
    /// The descriptor, borrowed: its owner keeps it open during the poll.
    public var descriptor: FileDescriptor
    /// The poll events waited for: POLLIN, or POLLOUT for room to write.
    public var events: Int16
    /// Creates a request for `events` (POLLIN by default) on `descriptor`.
    public init(descriptor: FileDescriptor, events: Int16 = Int16(POLLIN)) {
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
        var fds = requests.map { pollfd(fd: $0.descriptor.rawValue, events: $0.events, revents: 0) }
        let deadline = Deadline(after: timeoutNanoseconds)
        while true {
            do throws(PlatformError) {
                // Once, not `retrying`: after EINTR the wait goes on with the time left.
                try SystemCall.once("poll") {
                    fds.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t($0.count), deadline.pollMilliseconds) }
                }
                let readyMask = Int16(POLLIN | POLLOUT | POLLHUP | POLLERR)
                return fds.map { $0.revents & readyMask != 0 }
            } catch where error.errno == .interrupted {
                continue
            }
        }
    }

    /// Whether the peer of a socket has hung up (POLLHUP), now; pending data does not hide it.
    /// `descriptor` is borrowed: its owner keeps it open.
    public static func isHungUp(_ descriptor: FileDescriptor) -> Bool {
        var fd = pollfd(fd: descriptor.rawValue, events: 0, revents: 0)
        return Glibc.poll(&fd, 1, 0) == 1 && fd.revents & Int16(POLLHUP) != 0
    }
}

/// A point on the monotonic clock to wait until, or none (wait forever).
public struct Deadline: Sendable {
    /// The monotonic time in nanoseconds, or nil for no deadline.
    public let nanoseconds: UInt64?

    /// `timeoutNanoseconds` from now; `Poller.forever` is no deadline.
    public init(after timeoutNanoseconds: UInt64) {
        nanoseconds = timeoutNanoseconds == Poller.forever ? nil : Clock.monotonicNanoseconds() &+ timeoutNanoseconds
    }

    /// Nanoseconds left (0 once passed); `Poller.forever` without a deadline.
    public var remainingNanoseconds: UInt64 {
        guard let nanoseconds else { return Poller.forever }
        let now = Clock.monotonicNanoseconds()
        return nanoseconds > now ? nanoseconds - now : 0
    }

    /// Whether the deadline has passed.
    public var hasPassed: Bool { nanoseconds != nil && remainingNanoseconds == 0 }

    /// The time left as a `poll(2)` timeout: milliseconds rounded up, -1 without a deadline.
    public var pollMilliseconds: Int32 {
        guard nanoseconds != nil else { return -1 }
        return Int32(clamping: (remainingNanoseconds + 999_999) / 1_000_000)
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
