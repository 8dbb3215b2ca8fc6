import Foundation
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// Many clients at once, for a bounded time, mixing valid work with requests the server must
/// reject: every submission's completion arrives exactly once, and the server keeps serving.
@Suite(.hangGuard) struct SoakTests {
    @Test func concurrentClientsGetEveryCompletionExactlyOnce() throws {
        let server = try TestServer()
        let clients = 6
        let deadline = Clock.monotonicNanoseconds() + 3_000_000_000
        let failures = Locked<[String]>([])
        let rejected = Locked(0)
        let seeds = SeededRandom(for: "concurrentClientsGetEveryCompletionExactlyOnce")
        DispatchQueue.concurrentPerform(iterations: clients) { client in
            do {
                var random = seeds.stream(client)
                let session = try server.session()
                let (target, address) = try session.mappedBuffer(size: 16 * 4096)
                var submitted: UInt64 = 0
                var completed: [UInt64] = []
                while Clock.monotonicNanoseconds() < deadline {
                    switch Int.random(in: 0..<10, using: &random) {
                    case 0:
                        // A request the server rejects, on a connection of its own.
                        let doomed = try server.open().createConnection()
                        let buffer = try doomed.createBuffer(size: 4096)
                        try doomed.unmap(buffer, at: 0x5000)
                        if (try? doomed.flush()) == nil { rejected.withLock { $0 += 1 } }
                        doomed.release()
                    default:
                        let pattern = UInt32.random(in: 1...UInt32.max, using: &random)
                        let pages = UInt64.random(in: 1...16, using: &random)
                        try session.fill(address: address, size: pages * 4096, pattern: pattern)
                        submitted += 1
                        if try target.u32(at: Int(pages * 4096) - 4) != pattern { failures.withLock { $0.append("client \(client): wrong data") } }
                    }
                    completed += try session.notifications().compactMap { note in
                        if case .completed(let sequence, _, _) = note { sequence } else { nil }
                    }
                }
                try session.connection.flush()
                completed += try session.notifications().compactMap { note in
                    if case .completed(let sequence, _, _) = note { sequence } else { nil }
                }
                let expected: [UInt64] = submitted == 0 ? [] : Array(1...submitted)
                if completed != expected {
                    failures.withLock { $0.append("client \(client): \(submitted) submitted, completions \(completed.count), in order: \(completed == completed.sorted())") }
                }
            } catch {
                failures.withLock { $0.append("client \(client): \(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [], "\(seeds)")
        #expect(rejected.withLock { $0 } > 0, "\(seeds)")
        #expect(eventually { server.server.connectionCount == 0 })
    }
}
