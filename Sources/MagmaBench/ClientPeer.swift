import Foundation
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import SoftGPU

/// A client process of magmad for the many-clients rows (`ClientLoad`): `connections`
/// connections, each on a thread of its own, each submitting fills of its own buffer in a closed
/// loop and verifying every one (a wrong word or a missing completion is an error). With
/// `rounds` > 0 each connection makes that many and the process writes one line per connection,
/// "<completions> <nanoseconds>", to the result file; with 0 they go on until the process is
/// killed. Once every connection has verified its first fill, the peer creates
/// "<result file>.ready" (so a killer knows its kill lands mid-work).
public enum ClientPeer {
    /// The argument that makes an executable act as the peer:
    /// `<argument> SOCKET CONNECTIONS ROUNDS SEED RESULT-FILE`.
    public static let argument = "--client-peer"

    /// Runs the peer's connections to their end (or to the process's).
    public static func main(socketPath: String, connections: Int, rounds: Int, seed: UInt64, resultPath: String) throws {
        let device = try Device.open(.socket(socketPath))
        let results = Locked([String?](repeating: nil, count: connections))
        let started = Locked(0)
        let finished = DispatchGroup()
        for index in 0..<connections {
            finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                let line: String
                do {
                    let pattern = UInt32(truncatingIfNeeded: seed &+ UInt64(index) &* 0x9E37_79B9)
                    let elapsed = try fillLoop(device, rounds: rounds, pattern: pattern) {
                        if started.withLock({ $0 += 1; return $0 }) == connections {
                            _ = FileManager.default.createFile(atPath: resultPath + ".ready", contents: nil)
                        }
                    }
                    line = "\(rounds) \(elapsed)"
                } catch {
                    line = "error \(error)"
                }
                results.withLock { $0[index] = line }
            }
        }
        finished.wait()
        let lines = results.withLock { $0.map { $0 ?? "error no result" } }
        try (lines.joined(separator: "\n") + "\n").write(toFile: resultPath, atomically: true, encoding: .utf8)
        if let failure = lines.first(where: { $0.hasPrefix("error") }) { throw MagmaError(.internalError, failure) }
    }

    /// One connection's loop of `FillClient` rounds. Calls `firstVerified` after the first.
    /// Returns the nanoseconds the rounds took.
    private static func fillLoop(_ device: Device, rounds: Int, pattern: UInt32, firstVerified: () -> Void) throws -> UInt64 {
        let client = try FillClient(device, pattern: pattern)
        defer { client.close() }
        let start = Clock.monotonicNanoseconds()
        var round = 0
        while rounds == 0 || round < rounds {
            try client.round(round)
            if round == 0 { firstVerified() }
            round += 1
        }
        return Clock.monotonicNanoseconds() - start
    }
}

/// A client submitting verified work: a connection with a context and a mapped 4 KiB buffer;
/// each round fills the buffer with a pattern of its own (the round mixed into the client's
/// pattern), waits for the fill's semaphore and checks every word.
final class FillClient {
    private let connection: Connection
    private let context: Context
    private let target: Buffer
    private let commands: Buffer
    private let done: Magma.Semaphore
    private let words: UnsafeMutablePointer<UInt32>
    private let pattern: UInt32
    private static let address: UInt64 = 0x100_0000

    init(_ device: Device, pattern: UInt32) throws {
        self.pattern = pattern
        connection = try device.createConnection()
        context = try connection.createContext()
        target = try connection.createBuffer(size: 4096)
        try connection.map(target, at: Self.address, flags: [.read, .write])
        commands = try connection.createBuffer(size: 4096)
        done = try connection.createSemaphore()
        words = try target.contents.bindMemory(to: UInt32.self, capacity: 1024)
    }

    /// Round `round`: submit, wait (at most 60 s), verify; throws the connection's error or
    /// names the first wrong word.
    func round(_ round: Int) throws {
        let value = pattern ^ UInt32(truncatingIfNeeded: round &* 2_654_435_761)
        var stream = CommandStream()
        stream.fill(address: Self.address, size: 4096, pattern: value)
        stream.end()
        try commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        try connection.execute(on: context, CommandDescriptor(
            resources: [BufferRange(bufferId: commands.id, offset: 0, length: UInt64(stream.bytes.count))],
            commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], signalSemaphores: [done.id]))
        try Poll.wait([.semaphore(done)], timeoutNanoseconds: 60_000_000_000)
        done.reset()
        while (try? connection.readNotification()) != nil {}
        if let error = connection.error { throw error }
        for word in 0..<1024 where words[word] != value {
            throw MagmaError(.internalError, "round \(round): word \(word) is \(words[word]), not \(value)")
        }
    }

    func close() { connection.release() }
}
