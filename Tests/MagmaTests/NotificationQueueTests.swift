import Foundation
@testable import MagmaEmbedded
import MagmaProtocol
import Testing

/// The in-process notification channel's readiness eventfd: written once per run of pending
/// messages, readable exactly while messages are pending or after close.
@Suite struct NotificationQueueTests {
    /// The eventfd's counter as the kernel reports it (`eventfd-count` in fdinfo, hex): how
    /// many signals it has had since it was last drained.
    func signalCount(_ queue: MagmaEmbedded.NotificationQueue) throws -> UInt64 {
        let info = try String(contentsOfFile: "/proc/self/fdinfo/\(queue.readiness.descriptor.rawValue)", encoding: .utf8)
        let line = try #require(info.split(separator: "\n").first { $0.hasPrefix("eventfd-count:") })
        return try #require(UInt64(String(line.dropFirst("eventfd-count:".count)).trimmingCharacters(in: CharacterSet.whitespaces), radix: 16))
    }

    @Test func aRunOfMessagesSignalsOnce() throws {
        let queue = try MagmaEmbedded.NotificationQueue()
        #expect(try signalCount(queue) == 0)
        for index in 0..<50 { queue.deliver([UInt8(index)]) }
        #expect(try signalCount(queue) == 1, "one eventfd write per run of messages, not one per message")
        #expect(queue.readiness.isSignaled)
        for index in 0..<49 { #expect(try queue.read() == [UInt8(index)]) }
        #expect(queue.readiness.isSignaled, "readable while a message is pending")
        #expect(try queue.read() == [49])
        #expect(!queue.readiness.isSignaled, "not readable once drained")
        queue.deliver([7])
        #expect(queue.readiness.isSignaled, "the next message makes it readable again")
        #expect(try queue.read() == [7])
        #expect(try queue.read() == nil)
    }

    @Test func closingLeavesItReadable() throws {
        let queue = try MagmaEmbedded.NotificationQueue()
        queue.deliver([1])
        queue.connectionClosed(MagmaError(.connectionLost, "test"))
        #expect(try queue.read() == [1])
        #expect(queue.readiness.isSignaled, "readable after close, drained or not")
        #expect(throws: MagmaError.self) { try queue.read() }
    }
}
