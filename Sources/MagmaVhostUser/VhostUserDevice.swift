import MagmaPlatform

/// What a device answers for one descriptor chain: the bytes written to the chain's writable
/// buffers, and when the chain is complete.
public struct VirtqueueCompletion: Sendable {
    /// Written across the chain's writable buffers (what does not fit is dropped).
    public var response: [UInt8]
    /// The chain completes (its response is written and it goes to the used ring) once this is
    /// signaled; nil: at once.
    public var after: EventSemaphore?

    public init(response: [UInt8], after: EventSemaphore? = nil) {
        self.response = response
        self.after = after
    }
}

/// A virtio device behind the vhost-user back-end: its features, config space and queues. The
/// back-end owns the protocol, the memory table and the rings; the device sees only chains.
///
/// `handle` is called on the back-end's queue thread, one chain at a time; the other
/// requirements on the session's message thread. The back-end never calls two at once.
public protocol VhostUserDevice: AnyObject, Sendable {
    /// How many virtqueues it has.
    var queueCount: Int { get }
    /// Its feature bits: device-specific ones and ring features it supports
    /// (`VhostUserFeature.indirectDescriptors`); the back-end adds VERSION_1 and
    /// PROTOCOL_FEATURES.
    var features: UInt64 { get }
    /// Its config space, whole.
    func readConfig() -> [UInt8]
    /// The driver wrote `data` at `offset` of the config space.
    func writeConfig(offset: Int, data: [UInt8])
    /// Handles one chain taken from `queue`.
    func handle(_ chain: DescriptorChain, queue: Int) -> VirtqueueCompletion
    /// The front-end's extra socket (VHOST_USER_GPU_SET_SOCKET). A device without one throws.
    func adoptFrontEndSocket(_ channel: VhostUserChannel) throws(VhostUserError)
    /// The device was reset (the driver stopped every ring, or the front-end reset it): every
    /// object it holds for the guest is released; it starts afresh.
    func reset()
    /// The front-end has gone: everything is released and nothing is handled any more.
    func close()
}
