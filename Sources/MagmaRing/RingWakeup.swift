import MagmaPlatform

/// How a producer wakes a sleeping consumer: an eventfd in tests and between processes, a
/// virtio-gpu ping (one EXECBUFFER or socket message) from a guest. Called only when the
/// producer saw the consumer ASLEEP, so never on the steady-state path.
public protocol RingDoorbell: Sendable {
    /// Wakes the consumer's `RingSleeper.sleep`; a ring that arrives while it is awake is kept
    /// until its next sleep, which then returns at once.
    func ring()
}

/// Where a consumer sleeps once its ring stays empty: the other end of the producer's doorbell.
public protocol RingSleeper: Sendable {
    /// Blocks until the doorbell rings (or `interrupt` is called), then clears it.
    func sleep()
    /// Makes a current or next `sleep` return, for stopping the consumer.
    func interrupt()
}

/// An eventfd as both ends: the producer signals it, the consumer waits for it and resets it.
/// Two processes each make one over their own descriptor of the same eventfd
/// (`EventSemaphore(importing:)`).
public struct EventfdWakeup: RingDoorbell, RingSleeper {
    /// The eventfd.
    public let semaphore: EventSemaphore

    /// Wakes through `semaphore`.
    public init(_ semaphore: EventSemaphore) { self.semaphore = semaphore }

    public func ring() { semaphore.signal() }

    public func sleep() {
        _ = semaphore.wait(timeoutNanoseconds: Poller.forever)
        semaphore.reset()
    }

    public func interrupt() { semaphore.signal() }
}
