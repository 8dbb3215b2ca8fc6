import MagmaPlatform
import MagmaProtocol

/// A device as a backend serves it: what `Device` calls. A backend (MagmaEmbedded, MagmaSocket,
/// a DRM render node, a virtio-gpu guest context) implements this and `ConnectionBackend`;
/// `Magma` itself contains none. Programs choose a backend by locator (MagmaDevices).
public protocol DeviceBackend: Sendable {
    /// Answers a query synchronously: a value, or a buffer of bytes, as the query defines.
    /// Unknown ids are INVALID_ARGS.
    func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer

    /// Opens a connection: a private GPU address space with objects of its own. Errors here are
    /// synchronous (the backend could not reach the device or make the connection).
    func connect() throws(MagmaError) -> any ConnectionBackend

    /// The token that grants performance-counter access, for clients allowed to have it;
    /// ACCESS_DENIED otherwise. The caller owns the descriptor.
    func performanceCounterToken() throws(MagmaError) -> OwnedFileDescriptor

    /// What the physical device is and offers: identity, limits, memory types and heaps, queue
    /// families (a synchronous call; the answer is constant for the device's life). A backend
    /// reports what it honestly knows: a kernel backend with no submission reports no queue
    /// families.
    func physicalDeviceInfo() throws(MagmaError) -> PhysicalDeviceInfo
}
