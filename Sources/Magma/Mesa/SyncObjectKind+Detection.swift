import MagmaPlatform
import MagmaProtocol

extension SyncObjectKind {
    /// The kind of sync object an exported descriptor of the embedded and magmad backends is:
    /// an eventfd is a binary one, a sealed memfd (a timeline's shared page) a timeline (its
    /// initial value is unknown here: 0). Anything else cannot be told (a DRM syncobj's
    /// descriptor is either kind) and is INVALID_ARGS: the importer must name the kind.
    static func detect(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> SyncObjectKind {
        if EventSemaphore.isEventfd(descriptor.rawValue) { return .binary }
        if SharedMemory.isSealedMemfd(descriptor.rawValue) { return .timeline(initialValue: 0) }
        throw .invalidArgs("descriptor \(descriptor.rawValue) is neither an eventfd nor a sealed memfd: name the sync object's kind")
    }
}
