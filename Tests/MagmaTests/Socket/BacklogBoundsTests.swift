import Foundation
import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaWire
import SoftGPU
import MagmaTestSupport
import Testing

extension RawClient {
    /// Sends `messages` executeInlineCommands of `perMessage` empty commands each on context 1
    /// (created here); stops at the first send that fails (the daemon closed the connection).
    func floodInlineCommands(messages: Int, perMessage: Int) throws {
        try send(.createContext(.init(contextId: 1)))
        var end = CommandStream()
        end.end()
        let commands = Array(repeating: InlineCommand(data: end.bytes, semaphores: []), count: perMessage)
        let message = try PrimaryProtocol.ExecuteInlineCommands(contextId: 1, commands: commands).encoded().bytes
        for _ in 0..<messages { guard (try? primary.send(message)) != nil else { return } }
    }
}

/// Issue 13, item 10 and the prompt shutdown: a connection's pending work and notification
/// backlog are bounded, a client past them alone is closed, and SIGTERM does not wait for
/// clients that do not read.
@Suite(.serialized, .hangGuard) struct BacklogBoundsTests {
    @Test func pendingWorkPastItsBoundClosesTheConnection() throws {
        let daemon = try BoundedDaemon(options: ["--max-pending-megabytes", "1"])
        let bystander = try Bystander(devicePath: daemon.devicePath)
        let baseline = settledDescriptorCount(pid: daemon.pid)
        do {
            let attacker = try RawClient(path: daemon.devicePath)
            let never = try EventSemaphore()   // never signaled: the work waits for ever
            try attacker.importMemory(id: 9, never.descriptor.fileDescriptor, type: .semaphore)
            let commands = try attacker.submitEmptyWork(waits: [9])
            for _ in 0..<4_000 {   // about 600 bytes each: past 1 MB before the end
                guard (try? attacker.execute(context: 1, resources: [BufferRange(bufferId: 50, offset: 0, length: 4096)], waits: [9])) != nil else { break }
            }
            #expect(try attacker.epitaph(within: 20_000_000_000) == .memoryError)
            withExtendedLifetime(commands) {}
        }
        #expect(try bystander.fillVerified())
        #expect(descriptorsReturn(to: baseline, pid: daemon.pid), "the attacker's work and semaphore are gone")
        #expect(daemon.stop() == 0)
    }

    @Test func aClientThatDoesNotReadItsNotificationsIsClosed() throws {
        let daemon = try BoundedDaemon(options: ["--max-queued-notifications", "2000"])
        let bystander = try Bystander(devicePath: daemon.devicePath)
        let attacker = try RawClient(path: daemon.devicePath)
        try attacker.floodInlineCommands(messages: 8_000, perMessage: 1)   // 8,000 completions (one a message), none read
        #expect(try attacker.epitaph(within: 30_000_000_000) == .memoryError)
        #expect(daemon.log.contains("does not read its notifications"))
        #expect(try bystander.fillVerified())
        #expect(daemon.stop() == 0)
    }

    @Test func sigtermDoesNotWaitForClientsThatDoNotRead() throws {
        let daemon = try BoundedDaemon()
        let attacker = try RawClient(path: daemon.devicePath)
        try attacker.floodInlineCommands(messages: 8_000, perMessage: 1)   // a backlog it never reads
        #expect(attacker.answersFlush(timeoutNanoseconds: 20_000_000_000))
        let device = try MessageSocket.connect(path: daemon.devicePath)   // queries whose replies it never reads
        let query = try DeviceProtocol.Query(queryId: .vendorId).encoded(transactionId: 1)
        for _ in 0..<2_000 { guard (try? device.send(query.bytes, wait: false)) != nil else { break } }
        #expect(daemon.stop() == 0)
        #expect(!daemon.log.contains("did not stop"), "\(daemon.log)")
    }
}
