import MagmaProtocol
@testable import MagmaWire
import Testing

/// Encodes a message known to fit the limits.
func encode<M: WireMessage>(_ message: M, version: UInt16 = M.version, transactionId: UInt32 = 0) throws -> EncodedMessage {
    try message.encoded(transactionId: transactionId, version: version)
}

/// Decodes `bytes` as `M`, expecting a specific error.
func expectWireError<M: WireMessage>(_ expected: WireError, decoding bytes: [UInt8], handles: [WireHandle] = [], as _: M.Type,
                                     sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(throws: expected, sourceLocation: sourceLocation) { _ = try M.decoded(bytes: bytes, handles: handles) }
}

/// `bytes` with a little-endian integer written at `offset`.
func patched<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, _ value: T) -> [UInt8] {
    var copy = bytes
    WireBytes.store(value, &copy, offset)
    return copy
}

/// Reads a little-endian integer.
func read<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8], at offset: Int) -> T { WireBytes.load(T.self, bytes, offset) }
