import MagmaProtocol

extension VirtioContextCommand {
    /// The kind of command ring it travels on (`create_ring`): creations on the creation ring,
    /// every other feed-forward command on the queue ring; nil for what travels in SUBMIT_3D
    /// only (calls with a reply, commands that need a fence, the ring commands themselves).
    public var ringKind: VirtioRingKind? {
        switch self {
        case .virtio(.createSemaphore), .virtio(.createTimeline), .primary(.createContext): .creation
        case .virtio(.signalSemaphore), .virtio(.resetSemaphore), .primary: .queue
        case .virtio: nil
        }
    }
}
