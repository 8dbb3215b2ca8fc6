import Foundation
import MagmaBench
import MagmaPlatform
import MagmaProtocol
import MagmaRing
import MagmaTestSupport
import Synchronization
import Testing

/// A ring shared with another process (`magmactl --ring-peer`, `RingPeer`): the peer produces
/// seeded records into a memfd this process made, this process consumes them in order with
/// their content, and the eventfd doorbell crosses the process boundary.
@Suite(.hangGuard) struct RingSharingTests {
    private static let patience: UInt64 = 60_000_000_000

    /// What the consumer thread saw.
    final class Tally: Sendable {
        let count = Atomic<Int>(0)
        let mismatches = Atomic<Int>(0)
        let failure = Mutex<RingError?>(nil)
        /// The consumer's completed seqno and sleeps once it stopped (set on its thread).
        let final = Mutex<(completed: UInt64, announced: Int, sleeps: Int)>((0, 0, 0))
    }

    @Test func aPeerProcessProducesSeededRecordsInOrder() throws {
        let random = SeededRandom(for: "cross-process ring records")
        let count = 20_000
        let ringSize = 1 << 14
        let memory = try SharedMemory.create(size: RingLayout.regionSize(ringSize: ringSize), name: "ring-peer")
        let region = try RingRegion(memory)
        try region.format(ringSize: ringSize)
        let doorbell = try EventSemaphore()
        let consumer = try RingConsumer(region: region, sleeper: EventfdWakeup(doorbell))
        let maximum = RingLayout.maximumPayload(ringSize: ringSize)

        let tally = Tally()
        let stopper = consumer.stopper
        let box = ConsumerBox(consumer)
        let seed = random.seed
        let finished = try EventSemaphore()
        try HostThread.spawn(name: "ring-consumer") {
            do throws(RingError) {
                // A short spin: the consumer sleeps whenever the peer pauses, so the doorbell is used.
                try box.consumer.run(idle: .init(spinNanoseconds: 2_000)) { record in
                    let good = record.dependsOn == record.seqno &* 3
                        && Array(record.payload) == RingPeer.record(seqno: record.seqno, seed: seed, maximum: maximum)
                    if !good { tally.mismatches.add(1, ordering: .relaxed) }
                    if tally.count.add(1, ordering: .releasing).newValue == count { stopper.stop() }
                }
            } catch {
                tally.failure.withLock { $0 = error }
            }
            tally.final.withLock { $0 = (box.consumer.completedSeqno, box.consumer.sleepsAnnounced, box.consumer.sleeps) }
            finished.signal()
        }
        defer {
            stopper.stop()
            _ = finished.wait(timeoutNanoseconds: Self.patience)
        }

        let directory = FileManager.default.temporaryDirectory.appending(path: "magma-ring-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try MessageSocket.listen(path: "\(directory)/peer", permissions: 0o600)
        let peer = try ToolProcess("magmactl", [RingPeer.argument, "\(directory)/peer", String(seed), String(count)])
        guard try Poller.poll([PollRequest(descriptor: listener.descriptor.fileDescriptor)], timeoutNanoseconds: Self.patience) == [true] else {
            Issue.record("the peer did not connect: \(peer.output)")
            return
        }
        let channel = try listener.accept()
        let fds = [try #require(memory.descriptor).duplicate(), try doorbell.descriptor.duplicate()]
        try withExtendedLifetime(fds) { try channel.send([0], descriptors: fds.map(\.fileDescriptor)) }

        guard try Poller.poll([PollRequest(descriptor: channel.descriptor.fileDescriptor)], timeoutNanoseconds: Self.patience) == [true],
              case .message(let reply, _, _)? = try channel.receive(capacity: 16), reply.count == 8 else {
            Issue.record("the peer did not answer: \(peer.output)")
            return
        }
        let pings = reply.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        let outcome = peer.finish()
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(finished.wait(timeoutNanoseconds: Self.patience))
        #expect(tally.failure.withLock { $0 } == nil, "\(random)")
        #expect(tally.count.load(ordering: .acquiring) == count, "\(random)")
        #expect(tally.mismatches.load(ordering: .acquiring) == 0, "\(random)")
        let (completed, announced, sleeps) = tally.final.withLock { $0 }
        #expect(completed == UInt64(count))
        // A ping is rung only for a consumer that said ASLEEP, once each time it said so.
        #expect(pings <= UInt64(announced), "pings \(pings), ASLEEP \(announced) times")
        print("cross-process ring: \(count) records, \(pings) pings, ASLEEP \(announced) times, \(sleeps) sleeps")
    }
}

/// Hands the consumer to the one thread that runs it.
private struct ConsumerBox: @unchecked Sendable {
    let consumer: RingConsumer
    init(_ consumer: RingConsumer) { self.consumer = consumer }
}
