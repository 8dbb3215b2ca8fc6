import MagmaProtocol
import MagmaWire
import SystemPackage
import Testing

/// The encoder refuses to build what a peer would have to reject.
@Suite("Encoders enforce the limits")
struct EncoderLimitTests {
    @Test func vectorOverItsLimit() {
        let counters = PrimaryProtocol.EnablePerformanceCounters(counters: Array(repeating: 1, count: 65))
        #expect(throws: WireError.tooManyElements(field: "primary.enable_performance_counters.counters", count: 65, limit: 64)) {
            _ = try counters.encoded()
        }
    }

    @Test func messageOverTheSizeLimit() {
        // Two commands of 32 KiB are each within their limit; together they are not a message.
        let big = InlineCommand(data: [UInt8](repeating: 1, count: 32768))
        let inline = PrimaryProtocol.ExecuteInlineCommands(contextId: 1, commands: [big, big])
        #expect(throws: WireError.oversized(limit: ProtocolLimits.maxMessageBytes, actual: 65648)) { _ = try inline.encoded() }
    }

    @Test func largestMessageThatFits() throws {
        let resources = Array(repeating: BufferRange(bufferId: 1, offset: 0, length: 4096), count: 2000)
        let execute = PrimaryProtocol.ExecuteCommand(contextId: 1, resources: resources, commandBuffers: [],
                                                     waitSemaphores: [], signalSemaphores: [], flags: 0)
        let encoded = try execute.encoded()
        #expect(encoded.bytes.count <= ProtocolLimits.maxMessageBytes)
        #expect(try PrimaryProtocol.ExecuteCommand.decoded(bytes: encoded.bytes) == execute)
    }

    @Test func tooManyHandles() throws {
        var encoder = WireEncoder(ordinal: 1, version: 1, transactionId: 0, inlineSize: 8 * 33)
        for index in 0..<ProtocolLimits.maxHandles { try encoder.put(handle: WireHandle(FileDescriptor(rawValue: Int32(index))), at: 24 + 4 * index) }
        #expect(throws: WireError.tooManyHandles(limit: 64, actual: 65)) { try encoder.put(handle: WireHandle(FileDescriptor(rawValue: 99)), at: 24 + 256) }
    }
}
