import Foundation
import Magma
import MagmaBench
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Testing

/// A timeline shared with another process (`magmactl --timeline-peer`, `TimelinePeer`): CPU
/// signals cross the process boundary both ways, the peer's GPU work waits for a point this
/// process signals, and the peer's faulting work ends this process's wait on its point with
/// CONTEXT_KILLED.
@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct TimelineSharingTests {
    let devices = TestDevices()
    private static let patience: UInt64 = 60_000_000_000

    /// Receives one message from `socket`, waiting at most `patience`.
    private func receive(_ socket: MessageSocket) throws -> [UInt8] {
        guard try Poller.poll([PollRequest(descriptor: socket.descriptor.fileDescriptor)], timeoutNanoseconds: Self.patience) == [true],
              case .message(let bytes, _, _)? = try socket.receive(capacity: 16) else {
            throw MagmaError(.timedOut, "the peer did not answer")
        }
        return bytes
    }

    @Test(arguments: TestBackend.allCases) func aPeerProcessSharesTheTimeline(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let timeline = try connection.createTimelineSemaphore()
        let directory = FileManager.default.temporaryDirectory.appending(path: "magma-timeline-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try MessageSocket.listen(path: "\(directory)/peer", permissions: 0o600)
        let peer = try ToolProcess("magmactl", [TimelinePeer.argument, "\(directory)/peer"])
        guard try Poller.poll([PollRequest(descriptor: listener.descriptor.fileDescriptor)], timeoutNanoseconds: Self.patience) == [true] else {
            Issue.record("the peer did not connect: \(peer.output)")
            return
        }
        let channel = try listener.accept()
        let exported = try timeline.export()
        try channel.send([0], descriptors: [exported.fileDescriptor])
        #expect(try receive(channel) == Array("r".utf8))

        try timeline.signal(to: 1)   // the peer's CPU wait
        try timeline.signal(to: 2)   // the peer's GPU work waits for it and signals 3
        try timeline.wait(for: 3, timeoutNanoseconds: Self.patience)
        // The peer's faulting work was to signal 10.
        expectStatus(.contextKilled) { try timeline.wait(for: 10, timeoutNanoseconds: Self.patience) }
        #expect(timeline.value == 3)
        #expect(try receive(channel) == Array("d".utf8))
        let outcome = peer.finish()
        #expect(outcome.status == 0, "\(outcome.output)")
        // This process's connection is healthy: only the timeline failed.
        try connection.flush()
    }
}
