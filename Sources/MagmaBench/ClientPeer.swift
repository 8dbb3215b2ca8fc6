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

    /// One connection's loop: each round fills a 4 KiB buffer with a pattern of its own (the
    /// round mixed into `pattern`), waits for the fill's semaphore and checks every word.
    /// Calls `firstVerified` after the first round. Returns the nanoseconds the rounds took.
    private static func fillLoop(_ device: Device, rounds: Int, pattern: UInt32, firstVerified: () -> Void) throws -> UInt64 {
        let connection = try device.createConnection()
        defer { connection.release() }
        let context = try connection.createContext()
        let target = try connection.createBuffer(size: 4096)
        let address: UInt64 = 0x100_0000
        try connection.map(target, at: address, flags: [.read, .write])
        let commands = try connection.createBuffer(size: 4096)
        let done = try connection.createSemaphore()
        let words = try target.contents.bindMemory(to: UInt32.self, capacity: 1024)
        let start = Clock.monotonicNanoseconds()
        var round = 0
        while rounds == 0 || round < rounds {
            let value = pattern ^ UInt32(truncatingIfNeeded: round &* 2_654_435_761)
            var stream = CommandStream()
            stream.fill(address: address, size: 4096, pattern: value)
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
            if round == 0 { firstVerified() }
            round += 1
        }
        return Clock.monotonicNanoseconds() - start
    }
}
