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

/// A deterministic generator, so a failing mutation can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
