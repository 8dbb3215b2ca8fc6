import MagmaProtocol
import MagmaWire
import Testing

@Suite("Every message of the spec round-trips")
struct RoundTripTests {
    @Test(arguments: SpecSamples.messages.indices)
    func messageRoundTrips(index: Int) throws {
        try roundTrip(SpecSamples.messages[index])
    }

    private func roundTrip<M: WireMessage>(_ message: M) throws {
        let encoded = try encode(message, transactionId: 7)
        #expect(encoded.bytes.count % 8 == 0)
        #expect(read(UInt32.self, encoded.bytes, at: 0) == UInt32(encoded.bytes.count))
        #expect(read(UInt32.self, encoded.bytes, at: 4) == M.ordinal)
        #expect(read(UInt32.self, encoded.bytes, at: 8) == 7)
        #expect(read(UInt16.self, encoded.bytes, at: 12) == M.version)
        #expect(Int(read(UInt8.self, encoded.bytes, at: 14)) == encoded.handles.count)
        let decoded = try M.decoded(bytes: encoded.bytes, handles: encoded.handles)
        #expect(decoded == message, "\(M.name)")
    }

    @Test func directionEnumsRoundTrip() throws {
        for message in SpecSamples.primaryClient {
            let encoded = try message.encoded(transactionId: 3)
            let received = try PrimaryProtocol.ClientMessage.decode(bytes: encoded.bytes, handles: encoded.handles)
            #expect(received.message == message)
            #expect(received.header.transactionId == 3)
            #expect(received.unclaimedHandles.isEmpty)
        }
        for message in SpecSamples.primaryServer {
            let encoded = try message.encoded()
            #expect(try PrimaryProtocol.ServerMessage.decode(bytes: encoded.bytes, handles: encoded.handles).message == message)
        }
        for message in SpecSamples.deviceClient {
            let encoded = try message.encoded()
            #expect(try DeviceProtocol.ClientMessage.decode(bytes: encoded.bytes, handles: encoded.handles).message == message)
        }
    }

    @Test func everyOrdinalIsUniqueAndEveryMessageHasASample() {
        let ordinals = SpecSamples.messages.map { type(of: $0).ordinal }
        #expect(Set(ordinals).count == ordinals.count)
        #expect(ordinals.count == 74)
    }

    @Test func aMessageOfTheOtherDirectionIsAnUnknownOrdinal() throws {
        let reply = try PrimaryProtocol.FlushReply().encoded()
        #expect(throws: WireError.unknownOrdinal(PrimaryProtocol.FlushReply.ordinal)) {
            _ = try PrimaryProtocol.ClientMessage.decode(bytes: reply.bytes)
        }
        let query = try DeviceProtocol.Query(queryId: .vendorId).encoded()
        #expect(throws: WireError.unknownOrdinal(DeviceProtocol.Query.ordinal)) {
            _ = try PrimaryProtocol.ClientMessage.decode(bytes: query.bytes)
        }
    }

    @Test func optionalHandleMayBeAbsent() throws {
        let reply = DeviceProtocol.QueryReply(status: .ok, value: 42, buffer: nil)
        let encoded = try encode(reply)
        #expect(encoded.handles.isEmpty)
        #expect(try DeviceProtocol.QueryReply.decoded(bytes: encoded.bytes) == reply)
    }

    @Test func emptyVectorsAndStrings() throws {
        let message = PrimaryProtocol.ExecuteCommand(contextId: 1, resources: [], commandBuffers: [], waitSemaphores: [], signalSemaphores: [], flags: 0)
        let encoded = try encode(message)
        #expect(encoded.bytes.count == MessageHeader.byteCount + PrimaryProtocol.ExecuteCommand.inlineSize(at: 2))
        #expect(try PrimaryProtocol.ExecuteCommand.decoded(bytes: encoded.bytes) == message)
    }

    /// Pins the wire format: these bytes must not change without a new wire format or version.
    @Test func goldenEncodings() throws {
        let create = try PrimaryProtocol.CreateContext(contextId: 5, priority: .high).encoded(version: 2)
        #expect(hex(create.bytes) == "28000000030200000000000002000001" + "1000000000000000" + "0500000000000000" + "0002000000000000")
        let family = try encode(PrimaryProtocol.CreateContext(contextId: 5, priority: .high, queueFamily: 1))
        #expect(hex(family.bytes) == "30000000030200000000000003000001" + "1800000000000000" + "0500000000000000" + "0002000000000000"
            + "0100000000000000")
        let unmap = try encode(PrimaryProtocol.UnmapBuffer(gpuAddress: 0x1000, bufferId: 9))
        #expect(hex(unmap.bytes) == "280000000a0200000000000001000001" + "1000000000000000" + "0010000000000000" + "0900000000000000")
        let inline = try encode(PrimaryProtocol.ExecuteInlineCommands(contextId: 2, commands: [InlineCommand(data: [0xAB], semaphores: [3])]))
        #expect(hex(inline.bytes) ==
            "60000000060200000000000001000001" + "1800000000000000"      // header: 96 bytes, ordinal 518, v1, inline 24
            + "02000000" + "00000000"                                   // context id, padding
            + "30000000" + "01000000" + "20000000" + "00000000"         // commands: at 48, 1 element, stride 32
            + "50000000" + "01000000" + "01000000" + "00000000"         // element: data at 80, 1 byte, stride 1
            + "58000000" + "01000000" + "08000000" + "00000000"         // element: semaphores at 88, 1, stride 8
            + "ab00000000000000"                                        // data, padded to 8
            + "0300000000000000")                                       // semaphore id
    }

    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
