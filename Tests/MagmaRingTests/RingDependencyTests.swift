import MagmaPlatform
import MagmaRing
import MagmaTestSupport
import Synchronization
import Testing

/// A queue ring's records name the object-creation ring's seqno they need (`dependsOn`), and
/// the queue's consumer holds each until the creation ring's `RingProgress` reaches it: the
/// order Mesa's prototype leaves to an informal padding field.
@Suite(.hangGuard) struct RingDependencyTests {
    /// The objects the creation consumer made, and what the queue consumer found.
    final class Host: Sendable {
        let created = Locked<Set<UInt64>>([])
        let missing = Atomic<Int>(0)
        let waitsTimedOut = Atomic<Int>(0)
        let submissions = Atomic<Int>(0)
    }

    @Test func aQueueRecordRunsOnlyAfterTheCreationSeqnoItNames() throws {
        var random = SeededRandom(for: "ring dependencies")
        let creation = try TestRing(ringSize: 1 << 14)   // room for all 300 creations
        let queue = try TestRing(ringSize: 1 << 15)      // and up to 900 submissions of 32 bytes
        let creationConsumer = try creation.consumer()
        let queueConsumer = try queue.consumer()
        let host = Host()
        let progress = creationConsumer.progress
        let queueBox = UncheckedBox(queueConsumer)
        let queueThread = try TestThread {
            try? queueBox.value.run(idle: .init(spinNanoseconds: 1_000)) { record in
                if !progress.wait(for: record.dependsOn, timeoutNanoseconds: 30_000_000_000) {
                    host.waitsTimedOut.add(1, ordering: .relaxed)
                }
                let object = record.payload.loadUnaligned(as: UInt64.self)
                if !host.created.withLock({ $0.contains(object) }) { host.missing.add(1, ordering: .relaxed) }
                host.submissions.add(1, ordering: .releasing)
            }
        }
        // Every object is created on the creation ring, then used by one to three submissions
        // on the queue ring naming the creation record's seqno.
        let creationProducer = try creation.producer()
        let queueProducer = try queue.producer()
        var submissions = 0
        for object in UInt64(1)...300 {
            let seqno = try withUnsafeBytes(of: object) { try creationProducer.submit($0) }
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                try withUnsafeBytes(of: object) { _ = try queueProducer.submit($0, dependsOn: seqno) }
                submissions += 1
            }
        }
        // Only now does the creation ring's consumer start: the queue's consumer has had every
        // submission in front of it all along, and must have waited.
        #expect(host.submissions.load(ordering: .acquiring) == 0)
        let creationBox = UncheckedBox(creationConsumer)
        let creationThread = try TestThread {
            try? creationBox.value.run(idle: .init(spinNanoseconds: 1_000)) { record in
                let object = record.payload.loadUnaligned(as: UInt64.self)
                host.created.withLock { _ = $0.insert(object) }
            }
        }
        try queueProducer.wait(forCompleted: UInt64(submissions), timeoutNanoseconds: 60_000_000_000)
        creationConsumer.stopper.stop()
        queueConsumer.stopper.stop()
        #expect(queueThread.join() && creationThread.join())
        #expect(host.submissions.load(ordering: .acquiring) == submissions)
        #expect(host.missing.load(ordering: .acquiring) == 0, "\(random)")
        #expect(host.waitsTimedOut.load(ordering: .acquiring) == 0)
        #expect(progress.completedSeqno == 300)
    }
}

/// An owner interleaving two rings drains one only as far as the other needs
/// (`drainAvailable(through:)`): the records past that seqno stay for a later drain.
@Suite struct RingBoundedDrainTests {
    @Test func aDrainThroughASeqnoLeavesTheLaterRecords() throws {
        let ring = try TestRing(ringSize: 4096)
        let producer = try ring.producer()
        let consumer = try ring.consumer()
        for seqno in UInt64(1)...5 {
            try payload(seqno: seqno, seed: 3, length: 40).withUnsafeBytes { _ = try producer.submit($0) }
        }
        var seen: [UInt64] = []
        #expect(try consumer.drainAvailable(through: 2) { seen.append($0.seqno) } == 2)
        #expect(try consumer.drainAvailable(through: 2) { seen.append($0.seqno) } == 0)
        #expect(try consumer.drainAvailable(through: 4) { seen.append($0.seqno) } == 2)
        #expect(try producer.completedSeqno() == 4)
        var last: [UInt8] = []
        #expect(try consumer.drainAvailable { record in
            seen.append(record.seqno)
            last = Array(record.payload)
        } == 1)
        #expect(seen == [1, 2, 3, 4, 5])
        #expect(last == payload(seqno: 5, seed: 3, length: 40))
    }
}
