import Magma
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import SoftGPU

/// The other process of the cross-process timeline tests (Tests/MagmaTests/TimelineSharingTests).
/// It connects to the test's socket, receives one timeline descriptor and imports it into a
/// connection of its own embedded device, replies "r", then:
/// 1. waits on the CPU for point 1 (the test signals it from the CPU);
/// 2. submits GPU work that waits for point 2 and signals point 3, and waits for 3 itself;
/// 3. submits work that faults (it reads unmapped memory) and was to signal point 10, and
///    waits for 10, which must end with CONTEXT_KILLED;
/// and replies "d". Every wait has a deadline, so a test that went away never leaves it waiting.
public enum TimelinePeer {
    /// The argument that makes an executable act as the peer: `<argument> SOCKET`.
    public static let argument = "--timeline-peer"

    private static let patience: UInt64 = 60_000_000_000

    /// Runs the peer's script; throws what went differently.
    public static func main(socketPath: String) throws {
        let socket = try MessageSocket.connect(path: socketPath)
        guard case .message(_, let descriptors, _)? = try socket.receive(capacity: 16), descriptors.count == 1 else {
            throw MagmaError(.invalidArgs, "expected one timeline descriptor")
        }
        let connection = try Device.open(.embedded).createConnection()
        defer { connection.release() }
        let timeline = try connection.importTimelineSemaphore(try descriptors[0].duplicate())
        let context = try connection.createContext()
        try socket.send([UInt8(ascii: "r")])

        try timeline.wait(for: 1, timeoutNanoseconds: patience)
        try connection.execute(on: context, CommandDescriptor(resources: [], commandBuffers: [],
                                                              waitTimelinePoints: [timeline.point(2)], signalTimelinePoints: [timeline.point(3)]))
        try timeline.wait(for: 3, timeoutNanoseconds: patience)

        let commands = try connection.createBuffer(size: 4096)
        var stream = CommandStream()
        stream.copy(from: 0x7000_0000, to: 0x7100_0000, size: 4)
        try commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        try connection.execute(on: context, CommandDescriptor(
            resources: [BufferRange(bufferId: commands.id, offset: 0, length: UInt64(stream.bytes.count))],
            commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], signalTimelinePoints: [timeline.point(10)]))
        do throws(MagmaError) {
            try timeline.wait(for: 10, timeoutNanoseconds: patience)
            throw MagmaError(.internalError, "faulting work reached its timeline point")
        } catch {
            guard error.status == .contextKilled else { throw error }
        }
        try socket.send([UInt8(ascii: "d")])
    }
}
