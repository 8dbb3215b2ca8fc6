import SystemPackage

/// A file descriptor that travels beside a message's bytes (SCM_RIGHTS on a socket), not in them.
///
/// A message field holds the handle's index in the message's handle list; the handle itself is
/// the descriptor in this process that the transport sends or received. The codec never opens
/// or closes descriptors: the transport owns them and closes any the decoded message did not
/// claim, so a handle only borrows its descriptor.
public struct WireHandle: Hashable, Sendable {
    /// The descriptor in this process, borrowed from the transport or the object that owns it.
    public var descriptor: FileDescriptor

    /// Wraps a borrowed descriptor.
    public init(_ descriptor: FileDescriptor) { self.descriptor = descriptor }
}

/// An encoded message: bytes for the datagram and handles for its ancillary data.
public struct EncodedMessage: Hashable, Sendable {
    /// The header and body, little-endian; the length is a multiple of 8.
    public var bytes: [UInt8]
    /// Descriptors to send with the bytes, in index order.
    public var handles: [WireHandle]

    /// Wraps encoded bytes and their handles.
    public init(bytes: [UInt8], handles: [WireHandle]) {
        self.bytes = bytes
        self.handles = handles
    }
}

/// Something that travels as a handle: `PrimaryRequestSender` puts its descriptor in the message.
public protocol WireHandleConvertible {
    /// The handle, valid while the object lives.
    var wireHandle: WireHandle { get }
}

extension WireHandle: WireHandleConvertible {
    /// Itself.
    public var wireHandle: WireHandle { self }
}
