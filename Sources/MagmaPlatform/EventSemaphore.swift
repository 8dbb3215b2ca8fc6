import CMagmaLinux
import Glibc
import SystemPackage

/// A binary signal backed by an eventfd: signaled while its counter is non-zero.
///
/// The descriptor is pollable (POLLIN while signaled), so it can be exported to other
/// processes and waited on with `poll(2)` next to sockets. Signal and reset never block, even
/// on an imported eventfd another process shares and controls: for those they do not depend on
/// the descriptor's O_NONBLOCK flag, which lives on the open file description that process can
/// change at any time (see `cmagma_eventfd_signal_shared`). A semaphore created here relies on
/// its own flag, which only processes it is exported to could change.
public final class EventSemaphore: Sendable {
    /// The eventfd.
    public let descriptor: OwnedFileDescriptor
    /// Imported: another process controls its flags.
    private let isShared: Bool

    /// Creates an unsignaled semaphore.
    public init() throws(PlatformError) {
        descriptor = OwnedFileDescriptor(taking: try SystemCall.once("eventfd") { cmagma_eventfd_create() })
        isShared = false
    }

    /// Adopts a descriptor received from elsewhere. Anything that is not an eventfd is
    /// rejected with EINVAL, so a client cannot pass a pipe or a socket as a semaphore. Its
    /// file status flags are left as they are: nothing here relies on them.
    public init(importing descriptor: OwnedFileDescriptor) throws(PlatformError) {
        guard cmagma_is_eventfd(descriptor.rawValue) == 1 else {
            throw PlatformError(call: "not an eventfd", errno: .invalidArgument)
        }
        self.descriptor = descriptor
        isShared = true
    }

    /// Sets the signaled state (idempotent).
    public func signal() {
        if isShared {
            // Never sleeps, so EINTR there means the guard's timer ended a write that waited:
            // the counter is at its maximum, signaled already (cmagma_eventfd_signal_shared).
            _ = cmagma_eventfd_signal_shared(descriptor.rawValue)
        } else {
            _ = try? SystemCall.retrying("eventfd write") { cmagma_eventfd_signal(descriptor.rawValue) }
        }
    }

    /// Clears the signaled state.
    public func reset() { _ = cmagma_eventfd_drain(descriptor.rawValue) }

    /// Whether the semaphore is signaled now; does not change it.
    public var isSignaled: Bool {
        (try? Poller.poll([PollRequest(descriptor: descriptor.fileDescriptor)], timeoutNanoseconds: 0).first) == true
    }

    /// Waits until signaled or the timeout passes; does not reset. Returns whether it was signaled.
    public func wait(timeoutNanoseconds: UInt64) -> Bool {
        (try? Poller.poll([PollRequest(descriptor: descriptor.fileDescriptor)], timeoutNanoseconds: timeoutNanoseconds).first) == true
    }
}

extension EventSemaphore {
    /// The kernel's id of the eventfd behind `descriptor` (the `eventfd-id` line of
    /// /proc/self/fdinfo): the same through every descriptor of that eventfd, in every process
    /// that holds one, and unique among the system's live eventfds (an id is reused only once
    /// every descriptor of its eventfd is closed). Nil if `descriptor` is no eventfd or the
    /// kernel does not say. Every eventfd shares one anonymous inode, so fstat cannot tell two
    /// apart; this can.
    public static func kernelId(of descriptor: FileDescriptor) -> UInt64? {
        guard cmagma_is_eventfd(descriptor.rawValue) == 1 else { return nil }
        let file = open("/proc/self/fdinfo/\(descriptor.rawValue)", O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { return nil }
        defer { close(file) }
        var bytes = [UInt8](repeating: 0, count: 1024)
        let count = bytes.withUnsafeMutableBytes { read(file, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let text = String(decoding: bytes[..<count], as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("eventfd-id:") {
            return UInt64(line.dropFirst("eventfd-id:".count).trimmingPrefix(while: { $0 == " " || $0 == "\t" }))
        }
        return nil
    }
}
