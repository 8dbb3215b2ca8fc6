import MagmaProtocol
import MagmaTestSupport
import MagmaWire
import SystemPackage
import Testing

/// Each kind of malformed message gets its own typed error; none traps.
@Suite("Malformed messages are typed errors")
struct MalformedMessageTests {
    typealias Unmap = PrimaryProtocol.UnmapBuffer
    typealias Execute = PrimaryProtocol.ExecuteCommand
    typealias Import = PrimaryProtocol.ImportObject

    let unmap = try! encode(PrimaryProtocol.UnmapBuffer(gpuAddress: 0x1000, bufferId: 9)).bytes
    let execute = try! encode(PrimaryProtocol.ExecuteCommand(
        contextId: 1, resources: [BufferRange(bufferId: 2, offset: 0, length: 4096)],
        commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)],
        waitSemaphores: [5], signalSemaphores: [6, 7], flags: 0)).bytes

    // Offsets of ExecuteCommand's descriptors: resources at 32, command buffers 48, waits 64.
    let resourcesDescriptor = 32
    let waitsDescriptor = 64

    @Test func truncatedHeader() {
        expectWireError(.truncated(needed: 24, available: 10), decoding: Array(unmap.prefix(10)), as: Unmap.self)
        expectWireError(.truncated(needed: 24, available: 0), decoding: [], as: Unmap.self)
    }

    @Test func truncatedBody() {
        expectWireError(.truncated(needed: 40, available: 32), decoding: Array(unmap.prefix(32)), as: Unmap.self)
    }

    @Test func everyPrefixOfEveryMessageIsRejected() throws {
        for message in SpecSamples.messages {
            let encoded = try message.encoded(transactionId: 0, version: type(of: message).version)
            for length in 0..<encoded.bytes.count {
                #expect(throws: WireError.self) { _ = try decodeAny(message, Array(encoded.bytes.prefix(length)), encoded.handles) }
            }
        }
    }

    @Test func trailingBytesBeyondTheDeclaredLength() {
        expectWireError(.oversized(limit: 40, actual: 48), decoding: unmap + [UInt8](repeating: 0, count: 8), as: Unmap.self)
    }

    @Test func overTheProtocolLimit() {
        let huge = patched(unmap + [UInt8](repeating: 0, count: ProtocolLimits.maxMessageBytes), at: 0, UInt32(unmap.count + ProtocolLimits.maxMessageBytes))
        expectWireError(.oversized(limit: ProtocolLimits.maxMessageBytes, actual: huge.count), decoding: huge, as: Unmap.self)
    }

    @Test func misalignedLengths() {
        let odd = patched(unmap + [0, 0, 0, 0], at: 0, UInt32(44))
        expectWireError(.misaligned(what: "message length", value: 44), decoding: odd, as: Unmap.self)
        expectWireError(.misaligned(what: "inline length", value: 12), decoding: patched(unmap, at: 16, UInt32(12)), as: Unmap.self)
    }

    @Test func misalignedVectorOffset() {
        let offset = Int(read(UInt32.self, execute, at: waitsDescriptor))
        expectWireError(.misaligned(what: "primary.execute_command.wait_semaphores offset", value: offset + 4),
                        decoding: patched(execute, at: waitsDescriptor, UInt32(offset + 4)), as: Execute.self)
    }

    @Test func unknownOrdinalAndWireFormat() {
        expectWireError(.unknownOrdinal(0xDEAD), decoding: patched(unmap, at: 4, UInt32(0xDEAD)), as: Unmap.self)
        #expect(throws: WireError.unknownOrdinal(0xDEAD)) {
            _ = try PrimaryProtocol.ClientMessage.decode(bytes: patched(unmap, at: 4, UInt32(0xDEAD)))
        }
        expectWireError(.unsupportedWireFormat(2), decoding: patched(unmap, at: 15, UInt8(2)), as: Unmap.self)
    }

    @Test func reservedWordsMustBeZero() {
        expectWireError(.reservedNotZero(what: "header word"), decoding: patched(unmap, at: 20, UInt32(1)), as: Unmap.self)
        expectWireError(.reservedNotZero(what: "primary.execute_command.resources descriptor word"),
                        decoding: patched(execute, at: resourcesDescriptor + 12, UInt32(1)), as: Execute.self)
    }

    @Test func versionZero() {
        expectWireError(.invalidVersion(0), decoding: patched(unmap, at: 12, UInt16(0)), as: Unmap.self)
    }

    @Test func inlinePartTooShortForTheDeclaredVersion() {
        // Claims 8 inline bytes where version 1 of unmap_buffer has 16.
        let short = patched(patched(Array(unmap.prefix(32)), at: 0, UInt32(32)), at: 16, UInt32(8))
        expectWireError(.truncated(needed: 40, available: 32), decoding: short, as: Unmap.self)
    }

    @Test func vectorsOutOfBounds() {
        expectWireError(.outOfBounds(field: "primary.execute_command.resources"),
                        decoding: patched(execute, at: resourcesDescriptor, UInt32(8)), as: Execute.self)   // into the header
        expectWireError(.outOfBounds(field: "primary.execute_command.resources"),
                        decoding: patched(execute, at: resourcesDescriptor, UInt32(execute.count)), as: Execute.self)
        expectWireError(.outOfBounds(field: "primary.execute_command.signal_semaphores"),
                        decoding: patched(execute, at: waitsDescriptor + 16 + 4, UInt32(200)), as: Execute.self)
    }

    @Test func vectorsOverTheirLimit() {
        expectWireError(.tooManyElements(field: "primary.execute_command.wait_semaphores", count: 257, limit: 256),
                        decoding: patched(execute, at: waitsDescriptor + 4, UInt32(257)), as: Execute.self)
    }

    @Test func badStrides() {
        expectWireError(.badStride(field: "primary.execute_command.wait_semaphores", stride: 4),
                        decoding: patched(execute, at: waitsDescriptor + 8, UInt32(4)), as: Execute.self)
        expectWireError(.badStride(field: "primary.execute_command.resources", stride: 16),
                        decoding: patched(execute, at: resourcesDescriptor + 8, UInt32(16)), as: Execute.self)
        expectWireError(.badStride(field: "primary.execute_command.resources", stride: 28),
                        decoding: patched(execute, at: resourcesDescriptor + 8, UInt32(28)), as: Execute.self)
    }

    @Test func unknownClosedEnumValue() throws {
        let release = try encode(PrimaryProtocol.ReleaseObject(objectId: 1, objectType: .buffer)).bytes
        expectWireError(.unknownEnumValue(type: "ObjectType", value: 99), decoding: patched(release, at: 32, UInt32(99)),
                        as: PrimaryProtocol.ReleaseObject.self)
        let reply = try encode(DeviceProtocol.QueryReply(status: .ok, value: 0, buffer: nil)).bytes
        expectWireError(.unknownEnumValue(type: "MagmaStatus", value: -77), decoding: patched(reply, at: 24, Int32(-77)),
                        as: DeviceProtocol.QueryReply.self)
    }

    @Test func openValuesAndFlagsAcceptAnyValue() throws {
        let query = try encode(DeviceProtocol.Query(queryId: .vendorId)).bytes
        #expect(try DeviceProtocol.Query.decoded(bytes: patched(query, at: 24, UInt64(123_456))).queryId == QueryId(rawValue: 123_456))
    }

    @Test func invalidBoolean() throws {
        let reply = try encode(PrimaryProtocol.IsPerformanceCounterAccessAllowedReply(enabled: true)).bytes
        expectWireError(.invalidBool(field: "primary.is_performance_counter_access_allowed_reply.enabled", value: 2),
                        decoding: patched(reply, at: 24, UInt8(2)), as: PrimaryProtocol.IsPerformanceCounterAccessAllowedReply.self)
    }

    @Test func invalidUTF8() throws {
        var encoder = WireEncoder(ordinal: 1, version: 1, transactionId: 0, inlineSize: 16)
        try encoder.put(bytes: [0xFF, 0xFE], at: 24, field: "test", limit: 8)
        let bytes = try encoder.finish().bytes
        var decoder = try WireDecoder(bytes: bytes, handles: [])
        #expect(throws: WireError.invalidUTF8(field: "test")) { _ = try decoder.string(at: 24, field: "test", limit: 8) }
        #expect(try decoder.bytes(at: 24, field: "test", limit: 8) == [0xFF, 0xFE])
    }

    @Test func handleCountMustMatchWhatArrived() throws {
        let message = try encode(Import(object: WireHandle(FileDescriptor(rawValue: 10)), objectType: .buffer, objectId: 1, flags: []))
        expectWireError(.handleCountMismatch(declared: 1, received: 0), decoding: message.bytes, as: Import.self)
        expectWireError(.handleCountMismatch(declared: 1, received: 2), decoding: message.bytes, handles: [WireHandle(FileDescriptor(rawValue: 10)), WireHandle(FileDescriptor(rawValue: 11))], as: Import.self)
    }

    @Test func tooManyHandles() throws {
        let message = try encode(Import(object: WireHandle(FileDescriptor(rawValue: 10)), objectType: .buffer, objectId: 1, flags: []))
        let handles = (0..<65).map { WireHandle(FileDescriptor(rawValue: Int32($0))) }
        expectWireError(.tooManyHandles(limit: 64, actual: 65), decoding: patched(message.bytes, at: 14, UInt8(65)), handles: handles, as: Import.self)
    }

    @Test func handleIndexesAreChecked() throws {
        let message = try encode(DeviceProtocol.Connect(clientId: 1, primary: WireHandle(FileDescriptor(rawValue: 20)), notification: WireHandle(FileDescriptor(rawValue: 21))))
        expectWireError(.handleIndexOutOfRange(field: "device.connect.primary", index: 5),
                        decoding: patched(message.bytes, at: 32, UInt32(5)), handles: message.handles, as: DeviceProtocol.Connect.self)
        expectWireError(.handleClaimedTwice(field: "device.connect.notification", index: 0),
                        decoding: patched(message.bytes, at: 36, UInt32(0)), handles: message.handles, as: DeviceProtocol.Connect.self)
        expectWireError(.missingHandle(field: "device.connect.primary"),
                        decoding: patched(message.bytes, at: 32, UInt32.max), handles: message.handles, as: DeviceProtocol.Connect.self)
    }

    @Test func aHandleNoKnownFieldClaimsIsRejected() throws {
        let message = try encode(PrimaryProtocol.Flush())
        let withHandle = patched(message.bytes, at: 14, UInt8(1))
        expectWireError(.unclaimedHandle(index: 0), decoding: withHandle, handles: [WireHandle(FileDescriptor(rawValue: 3))], as: PrimaryProtocol.Flush.self)
    }

    @Test func aServerAnswersMalformedMessagesWithInvalidArgs() {
        let error = MagmaError(WireError.truncated(needed: 24, available: 3))
        #expect(error.status == .invalidArgs)
        #expect(error.message.contains("truncated"))
    }

    /// Random corruption of every sample: each result is a message or a typed error, never a trap.
    @Test func randomCorruptionNeverTraps() throws {
        var random = SeededRandom(for: "randomCorruptionNeverTraps")   // a trap ends the run: the seed is printed first
        var decodedCount = 0
        var rejected = 0
        for message in SpecSamples.messages {
            let encoded = try message.encoded(transactionId: 0, version: type(of: message).version)
            for _ in 0..<300 {
                var bytes = encoded.bytes
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let index = Int.random(in: 0..<bytes.count, using: &random)
                    bytes[index] = UInt8.random(in: 0...255, using: &random)
                }
                do {
                    _ = try decodeAny(message, bytes, encoded.handles)
                    decodedCount += 1
                } catch {
                    rejected += 1
                }
            }
        }
        #expect(decodedCount > 0, "\(random)")
        #expect(rejected > 0, "\(random)")
    }

    private func decodeAny<M: WireMessage>(_: M, _ bytes: [UInt8], _ handles: [WireHandle]) throws(WireError) -> M {
        try M.decoded(bytes: bytes, handles: handles)
    }
}
