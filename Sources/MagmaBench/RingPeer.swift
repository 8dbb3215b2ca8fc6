import MagmaPlatform
import MagmaProtocol
import MagmaRing

/// The other process of the cross-process ring test (Tests/MagmaTests/RingSharingTests): the
/// producer, as a guest would be. It connects to the test's socket, receives the ring's memfd
/// and the doorbell's eventfd, writes `count` records whose lengths and bytes `record(seqno:seed:)`
/// gives, waits until the consumer has completed the last, and replies with the pings it rang
/// (8 bytes, little-endian). Every wait has a deadline, so a test that went away never leaves it
/// waiting.
public enum RingPeer {
    /// The argument that makes an executable act as the peer: `<argument> SOCKET SEED COUNT`.
    public static let argument = "--ring-peer"

    private static let patience: UInt64 = 60_000_000_000

    /// Runs the producer; throws what went wrong.
    public static func main(socketPath: String, seed: UInt64, count: Int) throws {
        let socket = try MessageSocket.connect(path: socketPath)
        guard case .message(_, let descriptors, _)? = try socket.receive(capacity: 16), descriptors.count == 2 else {
            throw MagmaError(.invalidArgs, "expected a memfd and an eventfd")
        }
        let memory = try SharedMemory.importing(try descriptors[0].duplicate())
        let doorbell = EventfdWakeup(try EventSemaphore(importing: try descriptors[1].duplicate()))
        let producer = try RingProducer(region: try RingRegion(memory), doorbell: doorbell)
        for seqno in 1...UInt64(max(1, count)) {
            try record(seqno: seqno, seed: seed, maximum: producer.maximumPayload).withUnsafeBytes {
                _ = try producer.submit($0, dependsOn: seqno &* 3, timeoutNanoseconds: patience)
            }
        }
        try producer.wait(forCompleted: UInt64(max(1, count)), timeoutNanoseconds: patience)
        try socket.send(withUnsafeBytes(of: UInt64(producer.pings).littleEndian) { Array($0) })
    }

    /// The payload of record `seqno` in a run seeded with `seed`: mostly short, now and then up
    /// to `maximum` bytes, its bytes a SplitMix64 stream (both processes compute the same).
    public static func record(seqno: UInt64, seed: UInt64, maximum: Int) -> [UInt8] {
        var state = seed ^ (seqno &* 0xD1B5_4A32_D192_ED03)
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let length = next() % 50 == 0 ? Int(next() % UInt64(maximum + 1)) : Int(next() % 257)
        return (0..<length).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}
