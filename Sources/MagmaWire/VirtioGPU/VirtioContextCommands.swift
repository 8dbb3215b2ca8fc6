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
        if commands.count == 1 { return try encoded(commands[0]) }   // its bytes as they are, no copy
        var bytes: [UInt8] = []
        for command in commands { bytes += try encoded(command) }
        return bytes
    }

    private static func encoded(_ command: VirtioContextCommand) throws(WireError) -> [UInt8] {
        let encoded = switch command {
        case .virtio(let message): try message.encoded()
        case .primary(let message): try message.encoded()
        }
        guard encoded.handles.isEmpty else { throw .tooManyHandles(limit: 0, actual: encoded.handles.count) }
        return encoded.bytes
    }

    /// Splits a SUBMIT_3D payload into its commands, in order. A message that is malformed, of
    /// an unknown ordinal, or a primary message this transport does not carry (one with a
    /// handle, a call answered on a channel, flow control, performance counters) is a
    /// `WireError`; the commands before it are returned with it, so the host can apply them
    /// and then fail the context.
    public static func split(_ payload: [UInt8]) -> (commands: [VirtioContextCommand], error: WireError?) {
        var commands: [VirtioContextCommand] = []
        let error = payload.withUnsafeBytes { bytes in
            forEach(in: bytes) { command in
                commands.append(command)
                return true
            }
        }
        return (commands, error)
    }

    /// Decodes a payload's commands one at a time, in order, handing each to `body` as it is
    /// decoded (what `split` returns, without an array of them or a copy of the payload: a
    /// command ring's record is decoded straight from the consumer's copy). Returns the
    /// `WireError` of the first message that does not decode, after `body` has had the
    /// commands before it; nil once every message was handed over, or when `body` returned
    /// false (stop: the rest is not looked at).
    public static func forEach(in payload: UnsafeRawBufferPointer, _ body: (VirtioContextCommand) -> Bool) -> WireError? {
        var offset = 0
        while offset < payload.count {
            guard payload.count - offset >= MessageHeader.byteCount else {
                return .truncated(needed: offset + MessageHeader.byteCount, available: payload.count)
            }
            let length = Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            guard length >= MessageHeader.byteCount, length <= payload.count - offset else {
                return .truncated(needed: offset + max(length, MessageHeader.byteCount), available: payload.count)
            }
            let bytes = [UInt8](UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + length)]))
            offset += length
            let command: VirtioContextCommand
            do { command = try decode(bytes) } catch { return error }
            guard body(command) else { return nil }
        }
        return nil
    }

    private static func decode(_ bytes: [UInt8]) throws(WireError) -> VirtioContextCommand {
        let ordinal = WireBytes.load(UInt32.self, bytes, 4)
        if VirtioContextProtocol.ordinals.contains(ordinal) {
            return .virtio(try VirtioContextProtocol.ClientMessage.decode(bytes: bytes).message)
        }
        guard isCarriedPrimary(ordinal) else { throw .unknownOrdinal(ordinal) }
        return .primary(try PrimaryProtocol.ClientMessage.decode(bytes: bytes).message)
    }

    /// Whether a primary message of `ordinal` travels in a SUBMIT_3D: the feed-forward requests
    /// with no handle (a switch, not a set: it is looked up for every decoded message).
    public static func isCarriedPrimary(_ ordinal: UInt32) -> Bool {
        switch ordinal {
        case PrimaryProtocol.ReleaseObject.ordinal, PrimaryProtocol.CreateContext.ordinal, PrimaryProtocol.DestroyContext.ordinal,
             PrimaryProtocol.ExecuteCommand.ordinal, PrimaryProtocol.ExecuteCommandAtAddress.ordinal,
             PrimaryProtocol.ExecuteInlineCommands.ordinal, PrimaryProtocol.MapBuffer.ordinal, PrimaryProtocol.UnmapBuffer.ordinal,
             PrimaryProtocol.BufferRangeOp.ordinal, PrimaryProtocol.Bind.ordinal:
            true
        default: false
        }
    }
}

extension VirtioContextProtocol {
    /// The ordinals of this protocol's range.
    static let ordinals: Range<UInt32> = 1792..<2048
}
