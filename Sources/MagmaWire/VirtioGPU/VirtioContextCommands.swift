import MagmaProtocol

/// One Magma context command of a SUBMIT_3D payload: a virtio_context message, or a primary
/// protocol message that carries no handle (docs/virtio.md, protocol `virtio_context`).
public enum VirtioContextCommand: Hashable, Sendable {
    /// A virtio_context message (buffers from resources, host semaphores, calls with replies).
    case virtio(VirtioContextProtocol.ClientMessage)
    /// A primary-protocol request applied to the context's host connection as it is.
    case primary(PrimaryProtocol.ClientMessage)

    /// Appends the commands' messages back to back: a SUBMIT_3D payload.
    public static func payload(_ commands: [VirtioContextCommand]) throws(WireError) -> [UInt8] {
        var bytes: [UInt8] = []
        for command in commands {
            let encoded = switch command {
            case .virtio(let message): try message.encoded()
            case .primary(let message): try message.encoded()
            }
            guard encoded.handles.isEmpty else { throw .tooManyHandles(limit: 0, actual: encoded.handles.count) }
            bytes += encoded.bytes
        }
        return bytes
    }

    /// Splits a SUBMIT_3D payload into its commands, in order. A message that is malformed, of
    /// an unknown ordinal, or a primary message this transport does not carry (one with a
    /// handle, a call answered on a channel, flow control, performance counters) is a
    /// `WireError`; the commands before it are returned with it, so the host can apply them
    /// and then fail the context.
    public static func split(_ payload: [UInt8]) -> (commands: [VirtioContextCommand], error: WireError?) {
        var commands: [VirtioContextCommand] = []
        var offset = 0
        while offset < payload.count {
            guard payload.count - offset >= MessageHeader.byteCount else {
                return (commands, .truncated(needed: offset + MessageHeader.byteCount, available: payload.count))
            }
            let length = Int(WireBytes.load(UInt32.self, payload, offset))
            guard length >= MessageHeader.byteCount, length <= payload.count - offset else {
                return (commands, .truncated(needed: offset + max(length, MessageHeader.byteCount), available: payload.count))
            }
            let bytes = Array(payload[offset..<(offset + length)])
            offset += length
            do {
                commands.append(try decode(bytes))
            } catch {
                return (commands, error)
            }
        }
        return (commands, nil)
    }

    private static func decode(_ bytes: [UInt8]) throws(WireError) -> VirtioContextCommand {
        let ordinal = WireBytes.load(UInt32.self, bytes, 4)
        if VirtioContextProtocol.ordinals.contains(ordinal) {
            return .virtio(try VirtioContextProtocol.ClientMessage.decode(bytes: bytes).message)
        }
        guard carriedPrimaryOrdinals.contains(ordinal) else { throw .unknownOrdinal(ordinal) }
        return .primary(try PrimaryProtocol.ClientMessage.decode(bytes: bytes).message)
    }

    /// The primary messages a SUBMIT_3D carries: the feed-forward requests with no handle.
    public static let carriedPrimaryOrdinals: Set<UInt32> = [
        PrimaryProtocol.ReleaseObject.ordinal, PrimaryProtocol.CreateContext.ordinal, PrimaryProtocol.DestroyContext.ordinal,
        PrimaryProtocol.ExecuteCommand.ordinal, PrimaryProtocol.ExecuteCommandAtAddress.ordinal,
        PrimaryProtocol.ExecuteInlineCommands.ordinal, PrimaryProtocol.MapBuffer.ordinal, PrimaryProtocol.UnmapBuffer.ordinal,
        PrimaryProtocol.BufferRangeOp.ordinal, PrimaryProtocol.Bind.ordinal,
    ]
}

extension VirtioContextProtocol {
    /// The ordinals of this protocol's range.
    static let ordinals: Range<UInt32> = 1792..<2048
}
