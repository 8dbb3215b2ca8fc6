import Foundation
import Glibc
import MagmaPlatform
import MagmaVhostUser
import Testing

/// `magma-vhost-user-gpu` as a process: front-ends (this test) connect to its stream socket,
/// negotiate, and leave; the back-end then exits on its own.
@Suite("magma-vhost-user-gpu serves front-ends from a process of its own", .timeLimit(.minutes(1)), .serialized)
struct VhostUserGPUProcessTests {
    @Test func itServesAFrontEndAndExitsWhenItLeaves() throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-vhost-gpu-\(UUID().uuidString.prefix(8))").path
        let backend = try ToolProcess("magma-vhost-user-gpu", ["--socket", path, "--trace"])
        try backend.waitForFile(path)
        let channel = try connect(path)
        try channel.send(VhostUserMessage(request: VhostUserRequest.getFeatures.rawValue))
        #expect(channel.socket.waitReadable(until: Deadline(after: 20_000_000_000)))
        let reply = try #require(try channel.receive())
        let features = reply.payload.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        #expect(features & 0b11 == 0b11)                                 // VIRGL and EDID
        #expect(features & VhostUserFeature.protocolFeatures != 0)
        channel.socket.shutdown()
        let outcome = backend.finish()
        #expect(outcome.status == 0 && !outcome.timedOut, "\(outcome.output)")
        #expect(outcome.output.contains("getFeatures") && outcome.output.contains("the front-end has gone"), "\(outcome.output)")
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// Two front-ends at once, each its own session: the first leaving ends nothing for the
    /// second, which is still served; the back-end exits once both have gone.
    @Test func itServesTwoFrontEndsAtOnceAndExitsWhenBothLeave() throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-vhost-gpu-\(UUID().uuidString.prefix(8))").path
        let backend = try ToolProcess("magma-vhost-user-gpu", ["--socket", path, "--front-ends", "2"])
        try backend.waitForFile(path)
        let first = try connect(path)
        let second = try connect(path)
        for channel in [first, second] { try #require(try features(channel) & 0b11 == 0b11) }
        first.socket.shutdown()
        #expect(try features(second) & 0b11 == 0b11, "the second is served after the first left")
        #expect(backend.process.isRunning)
        second.socket.shutdown()
        let outcome = backend.finish()
        #expect(outcome.status == 0 && !outcome.timedOut, "\(outcome.output)")
        for n in 1...2 {
            #expect(outcome.output.contains("front-end \(n) has gone") && outcome.output.contains("front-end \(n)'s device model held 0 contexts"),
                    "\(outcome.output)")
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func itRefusesZeroFrontEnds() throws {
        let outcome = try ToolProcess("magma-vhost-user-gpu", ["--socket", "/nonexistent/x", "--front-ends", "0"]).finish()
        #expect(outcome.status != 0 && outcome.output.contains("--front-ends must be at least 1"), "\(outcome.output)")
    }

    /// GET_FEATURES on `channel`: the back-end's feature bits.
    private func features(_ channel: VhostUserChannel) throws -> UInt64 {
        try channel.send(VhostUserMessage(request: VhostUserRequest.getFeatures.rawValue))
        #expect(channel.socket.waitReadable(until: Deadline(after: 20_000_000_000)))
        let reply = try #require(try channel.receive())
        return reply.payload.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    @Test func itStopsOnSIGTERMBeforeAnyFrontEnd() throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-vhost-gpu-\(UUID().uuidString.prefix(8))").path
        let backend = try ToolProcess("magma-vhost-user-gpu", ["--socket", path])
        try backend.waitForFile(path)
        kill(backend.process.processIdentifier, SIGTERM)
        let outcome = backend.finish()
        #expect(outcome.status == 0 && !outcome.timedOut, "\(outcome.output)")
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    private func connect(_ path: String) throws -> VhostUserChannel {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #expect(fd >= 0)
        let descriptor = OwnedFileDescriptor(taking: fd)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        // The socket's file appears at bind, before the back-end listens: a connect in between
        // is refused, so retry that (20 s at most; seen under a loaded full run).
        let deadline = Deadline(after: 20_000_000_000)
        var connected: Int32 = -1
        repeat {
            connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if connected == 0 || errno != ECONNREFUSED { break }
            usleep(2_000)
        } while !deadline.hasPassed
        #expect(connected == 0, "connect: errno \(errno)")
        return VhostUserChannel(socket: MessageSocket(adopting: descriptor))
    }
}
