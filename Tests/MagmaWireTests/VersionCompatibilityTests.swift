import MagmaProtocol
import MagmaWire
import SystemPackage
import Testing

/// A newer peer's buffer_range: version 2 appends `tag`.
private struct FutureBufferRange: WireStruct {
    var bufferId: UInt64
    var offset: UInt64
    var length: UInt64
    var tag: UInt64

    static let wireSize = 32
    static let minimumWireSize = 24

    func encode(into encoder: inout WireEncoder, at base: Int) throws(WireError) {
        encoder.put(bufferId, at: base)
        encoder.put(offset, at: base + 8)
        encoder.put(length, at: base + 16)
        encoder.put(tag, at: base + 24)
    }

    init(bufferId: UInt64, offset: UInt64, length: UInt64, tag: UInt64) {
        self.bufferId = bufferId
        self.offset = offset
        self.length = length
        self.tag = tag
    }

    init(decoding decoder: inout WireDecoder, at base: Int, size: Int) throws(WireError) {
        bufferId = try decoder.load(UInt64.self, at: base)
        offset = try decoder.load(UInt64.self, at: base + 8)
        length = try decoder.load(UInt64.self, at: base + 16)
        tag = try size >= 32 ? decoder.load(UInt64.self, at: base + 24) : 0
    }
}

/// A newer peer's add_performance_counter_buffer_offsets_to_pool: version 2 appends a label
/// (out of line) and an optional handle, and its ranges carry the newer struct.
private struct FutureAddOffsets: WireMessage {
    static let ordinal = PrimaryProtocol.AddPerformanceCounterBufferOffsetsToPool.ordinal
    static let version: UInt16 = 2
    static let name = "future.add_offsets"

    var poolId: UInt64
    var offsets: [FutureBufferRange]
    var label: String
    var fence: WireHandle?

    init(poolId: UInt64, offsets: [FutureBufferRange], label: String, fence: WireHandle?) {
        self.poolId = poolId
        self.offsets = offsets
        self.label = label
        self.fence = fence
    }

    static func inlineSize(at version: UInt16) -> Int { version >= 2 ? 48 : 24 }

    func encode(into encoder: inout WireEncoder, version: UInt16) throws(WireError) {
        encoder.put(poolId, at: 24)
        try encoder.put(structs: offsets, at: 32, field: "offsets", limit: 64)
        if version >= 2 {
            try encoder.put(string: label, at: 48, field: "label", limit: 64)
            try encoder.put(handle: fence, at: 64)
        }
    }

    init(decoding decoder: inout WireDecoder, version: UInt16) throws(WireError) {
        poolId = try decoder.load(UInt64.self, at: 24)
        offsets = try decoder.structs(at: 32, field: "offsets", limit: 64)
        label = try version >= 2 ? decoder.string(at: 48, field: "label", limit: 64) : ""
        fence = try version >= 2 ? decoder.optionalHandle(at: 64, field: "fence") : nil
    }
}

@Suite("Peers of different versions interoperate")
struct VersionCompatibilityTests {
    typealias AddOffsets = PrimaryProtocol.AddPerformanceCounterBufferOffsetsToPool
    typealias CreateContext = PrimaryProtocol.CreateContext

    @Test func olderPeerDecodesNewerMessageSkippingUnknownFields() throws {
        let future = FutureAddOffsets(
            poolId: 7,
            offsets: [FutureBufferRange(bufferId: 1, offset: 0, length: 64, tag: 0xAA),
                      FutureBufferRange(bufferId: 2, offset: 64, length: 64, tag: 0xBB)],
            label: "frame 12", fence: WireHandle(FileDescriptor(rawValue: 40)))
        let encoded = try future.encoded()
        let received = try PrimaryProtocol.ClientMessage.decode(bytes: encoded.bytes, handles: encoded.handles)
        #expect(received.message == .addPerformanceCounterBufferOffsetsToPool(AddOffsets(
            poolId: 7, offsets: [BufferRange(bufferId: 1, offset: 0, length: 64), BufferRange(bufferId: 2, offset: 64, length: 64)])))
        #expect(received.header.version == 2)
        #expect(received.unclaimedHandles == [WireHandle(FileDescriptor(rawValue: 40))])
    }

    @Test func newerPeerDecodesOlderMessageWithDefaults() throws {
        let old = AddOffsets(poolId: 3, offsets: [BufferRange(bufferId: 9, offset: 128, length: 32)])
        let encoded = try old.encoded()
        let decoded = try FutureAddOffsets.decoded(bytes: encoded.bytes, handles: encoded.handles)
        #expect(decoded == FutureAddOffsets(poolId: 3, offsets: [FutureBufferRange(bufferId: 9, offset: 128, length: 32, tag: 0)],
                                            label: "", fence: nil))
    }

    @Test func fieldAddedInVersion2TakesItsDefaultFromAVersion1Sender() throws {
        let fromOldPeer = try CreateContext(contextId: 4, priority: .high).encoded(version: 1)
        #expect(read(UInt16.self, fromOldPeer.bytes, at: 12) == 1)
        #expect(fromOldPeer.bytes.count == MessageHeader.byteCount + CreateContext.inlineSize(at: 1))
        #expect(try CreateContext.decoded(bytes: fromOldPeer.bytes) == CreateContext(contextId: 4, priority: .medium))
    }

    @Test func aVersion2SenderOfCreateContextMeansQueueFamily0() throws {
        let fromOldPeer = try CreateContext(contextId: 4, priority: .low, queueFamily: 1).encoded(version: 2)
        #expect(fromOldPeer.bytes.count == MessageHeader.byteCount + CreateContext.inlineSize(at: 2))
        #expect(try CreateContext.decoded(bytes: fromOldPeer.bytes) == CreateContext(contextId: 4, priority: .low, queueFamily: 0))
        let current = try CreateContext(contextId: 4, priority: .low, queueFamily: 1).encoded()
        #expect(try CreateContext.decoded(bytes: current.bytes, knownVersion: 2) == CreateContext(contextId: 4, priority: .low))
    }

    @Test func version1PeerReadsAVersion2Message() throws {
        let newer = try CreateContext(contextId: 4, priority: .realtime).encoded()
        #expect(try CreateContext.decoded(bytes: newer.bytes, knownVersion: 1) == CreateContext(contextId: 4, priority: .medium))
    }

    @Test func aNewerMessageMustStillHoldTheFieldsTheReceiverKnows() throws {
        let newer = try CreateContext(contextId: 4, priority: .realtime).encoded(version: 2).bytes
        // Claims version 2 with only version 1's 8 inline bytes.
        let short = patched(patched(Array(newer.prefix(32)), at: 0, UInt32(32)), at: 16, UInt32(8))
        #expect(throws: WireError.truncated(needed: 40, available: 32)) { _ = try CreateContext.decoded(bytes: short) }
        #expect(try CreateContext.decoded(bytes: short, knownVersion: 1) == CreateContext(contextId: 4))
    }

    @Test func aStrideShorterThanTheFirstLayoutIsRejected() throws {
        let old = try AddOffsets(poolId: 3, offsets: [BufferRange(bufferId: 9, offset: 0, length: 32)]).encoded().bytes
        let narrowed = patched(old, at: 32 + 8, UInt32(16))
        #expect(throws: WireError.badStride(field: "offsets", stride: 16)) { _ = try FutureAddOffsets.decoded(bytes: narrowed) }
    }
}
