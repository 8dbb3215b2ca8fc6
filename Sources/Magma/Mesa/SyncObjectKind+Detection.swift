import MagmaPlatform
import MagmaProtocol

extension SyncObjectKind {
    /// The kind of sync object an exported descriptor is, as far as the descriptor tells: an
    /// eventfd (the embedded, magmad and virtio backends' binary export) is a binary one, a
    /// sealed memfd (their timelines' shared page, virtio's timeline share token) a timeline (its
    /// initial value is unknown here: 0). A DRM
    /// syncobj's descriptor is either kind and says nothing: binary is taken, which a DRM device
    /// imports (a syncobj serves as both) and the others refuse unless it is an eventfd
    /// (INVALID_ARGS); name
    /// `.timeline` to import a DRM timeline.
    static func detect(_ descriptor: OwnedFileDescriptor) -> SyncObjectKind {
        SharedMemory.isSealedMemfd(descriptor.fileDescriptor) ? .timeline(initialValue: 0) : .binary
    }
}
