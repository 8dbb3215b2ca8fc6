import Glibc
import MagmaPlatform
import MagmaTestSupport
import SystemPackage
import Testing

/// What one receive hands back: exactly the record, however large the capacity asked for.
@Suite(.hangGuard) struct MessageSocketReceiveTests {
    /// A record's bytes are held in an array of about their own size, not the receive's
    /// capacity (64 KiB for the protocol's sockets): a backlog of small queued messages holds
    /// what they carry.
    @Test func aSmallRecordIsHeldAtItsOwnSize() throws {
        let (reader, writer) = try MessageSocket.pair()
        try writer.send(Array(0..<16))
        guard case .message(let bytes, let descriptors, let truncated)? = try reader.receive(capacity: 65_536) else {
            Issue.record("no record")
            return
        }
        #expect(bytes == Array(0..<16))
        #expect(descriptors.isEmpty && !truncated)
        #expect(bytes.capacity < 1_024, "a 16-byte record kept a \(bytes.capacity)-byte buffer")
    }

    /// Records of every size up to the capacity, with descriptors, arrive whole and in order when
    /// one thread's receives reuse their buffer: a later, shorter record never shows an earlier
    /// one's bytes.
    @Test func recordsOfChangingSizesArriveWhole() throws {
        let (reader, writer) = try MessageSocket.pair()
        var random = SeededRandom(for: "record sizes")
        for _ in 0..<40 {
            let count = Int.random(in: 1...60_000, using: &random)
            let record = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            let sent = dup(STDERR_FILENO)
            #expect(sent >= 0)
            try writer.send(record, descriptors: [FileDescriptor(rawValue: sent)])
            close(sent)
            guard case .message(let bytes, let descriptors, let truncated)? = try reader.receive(capacity: 65_536) else {
                Issue.record("no record (\(random))")
                return
            }
            #expect(bytes == record, "\(random)")
            #expect(descriptors.count == 1 && !truncated, "\(random)")
        }
        try writer.send([7])
        guard case .message(let last, _, _)? = try reader.receive(capacity: 65_536) else { return }
        #expect(last == [7])
    }

    /// A record longer than the capacity is cut to it and says so.
    @Test func aRecordPastTheCapacityIsTruncated() throws {
        let (reader, writer) = try MessageSocket.pair()
        try writer.send(Array(repeating: 9, count: 100))
        guard case .message(let bytes, _, let truncated)? = try reader.receive(capacity: 10) else {
            Issue.record("no record")
            return
        }
        #expect(bytes == Array(repeating: 9, count: 10))
        #expect(truncated)
    }
}
