import MagmaPlatform

/// One ring's configuration as the front-end sets it, and its virtqueue while it runs.
struct Vring {
    var size = 0
    var address: VhostUserVringAddress?
    var base: UInt16 = 0
    var kick: EventSemaphore?
    var call: EventSemaphore?
    var error: EventSemaphore?
    /// Whether the driver may use it (SET_VRING_ENABLE; set from the start without
    /// PROTOCOL_FEATURES).
    var enabled = false
    /// The running queue: made when the kick descriptor arrives, dropped by GET_VRING_BASE.
    var queue: SplitVirtqueue?
    /// Why the queue stopped on bad guest input (it is not processed again until restarted).
    var failure: VhostUserError?
    /// Bumped at each start, so a completion from an earlier run is dropped.
    var generation = 0

    /// Whether its queue is processed now.
    var isActive: Bool { queue != nil && enabled && failure == nil }

    /// The queue fails: it is not processed again, and the error eventfd says so.
    mutating func fail(_ reason: VhostUserError) {
        failure = reason
        error?.signal()
    }

    /// Interrupts the driver (the call eventfd), if it wants one.
    mutating func interrupt() {
        guard queue?.wantsInterrupt() == true else { return }
        call?.signal()
    }
}
