import MagmaGuestMemory
import MagmaPlatform

/// Why the back-end refused a vhost-user message or a virtqueue's contents. Every check on what a
/// front-end (QEMU) or its guest sends throws one of these; nothing traps.
public enum VhostUserError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stream ended (or failed) inside a message.
    case truncated(needed: Int, received: Int)
    /// A header whose version bits are not 1, or a payload larger than any request's.
    case badHeader(request: UInt32, flags: UInt32, size: UInt32)
    /// A request number this back-end does not implement (or did not negotiate).
    case unknownRequest(UInt32)
    /// A payload whose size does not match its request.
    case payloadSize(request: UInt32, size: Int, expected: String)
    /// A message carrying the wrong number of descriptors.
    case descriptorCount(request: UInt32, count: Int, expected: Int)
    /// A field out of its range (the message names which).
    case invalid(String)
    /// A guest or front-end address refused by the memory table.
    case memory(GuestMemoryError)
    /// A system call failed.
    case platform(PlatformError)

    public var description: String {
        switch self {
        case .truncated(let needed, let received): "the stream ended after \(received) of \(needed) bytes of a message"
        case .badHeader(let request, let flags, let size): "bad message header: request \(request), flags 0x\(String(flags, radix: 16)), size \(size)"
        case .unknownRequest(let request): "unknown or unnegotiated request \(request)"
        case .payloadSize(let request, let size, let expected): "request \(request): payload of \(size) bytes, expected \(expected)"
        case .descriptorCount(let request, let count, let expected): "request \(request): \(count) descriptors, expected \(expected)"
        case .invalid(let what): what
        case .memory(let error): "guest memory: \(error)"
        case .platform(let error): "\(error)"
        }
    }
}
