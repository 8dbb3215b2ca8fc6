import CMagmaLinux
import Glibc
import MagmaPlatform
import MagmaTestSupport
import Testing

/// The platform's timeline: shared state in a sealed memfd page, points that only grow, an
/// error status that settles every wait, and watches that `poll(2)` can wait on.
@Suite(.hangGuard) struct TimelinePrimitiveTests {
    private static let patience: UInt64 = 10_000_000_000

    @Test func pointsOnlyGrowAndRefusedPointsChangeNothing() throws {
        let timeline = try Timeline.create(initialValue: 5)
        #expect(timeline.value == 5)
        #expect(throws: Timeline.SignalRefusal.notAbove(current: 5)) { try timeline.signal(to: 5) }
        #expect(throws: Timeline.SignalRefusal.notAbove(current: 5)) { try timeline.signal(to: 2) }
        try timeline.signal(to: 9)
        #expect(timeline.value == 9)
        #expect(throws: Timeline.SignalRefusal.notAbove(current: 9)) { try timeline.signal(to: 7) }
        #expect(timeline.value == 9 && timeline.status == 0)
    }

    @Test func anImportSharesTheState() throws {
        let timeline = try Timeline.create(initialValue: 0)
        let imported = try Timeline.importing(try timeline.descriptor.duplicate())
        try imported.signal(to: 3)
        #expect(timeline.value == 3)
        timeline.fail(status: -5)
        #expect(imported.status == -5)
        #expect(imported.isSettled(for: 100))
    }

    @Test func importRefusesWhatIsNotATimeline() throws {
        // A buffer's memfd (size-sealed, no F_SEAL_SEAL), an unsealed memfd, a pipe.
        let buffer = try SharedMemory.create(size: SharedMemory.pageSize)
        #expect(throws: PlatformError.self) { _ = try Timeline.importing(try #require(buffer.descriptor).duplicate()) }
        let unsealed = OwnedFileDescriptor(taking: cmagma_memfd_create("unsealed"))
        #expect(ftruncate(unsealed.rawValue, off_t(SharedMemory.pageSize)) == 0)
        #expect(throws: PlatformError.self) { _ = try Timeline.importing(unsealed) }
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        close(fds[1])
        #expect(throws: PlatformError.self) { _ = try Timeline.importing(OwnedFileDescriptor(taking: fds[0])) }
        // Sealed as a timeline but two pages, or one page without the magic.
        for pages in [2, 1] {
            let fd = cmagma_memfd_create("fake")
            #expect(ftruncate(fd, off_t(pages * SharedMemory.pageSize)) == 0)
            #expect(cmagma_memfd_seal_size(fd) == 0 && cmagma_memfd_seal_seals(fd) == 0)
            #expect(throws: PlatformError.self) { _ = try Timeline.importing(OwnedFileDescriptor(taking: fd)) }
        }
    }

    @Test func aWatchPollsReadableOnlyOnceItsPointIsReached() throws {
        let timeline = try Timeline.create(initialValue: 1)
        let reached = try TimelineWatch(timeline, for: 1)
        #expect(try Poller.poll([PollRequest(descriptor: reached.descriptor)], timeoutNanoseconds: 0) == [true])
        let future = try TimelineWatch(timeline, for: 4)
        #expect(try Poller.poll([PollRequest(descriptor: future.descriptor)], timeoutNanoseconds: 0) == [false])
        try timeline.signal(to: 3)
        // Below the point: the watcher thread must not fire it (it may still be looking).
        #expect(!future.isSettled)
        try timeline.signal(to: 6)
        #expect(try Poller.poll([PollRequest(descriptor: future.descriptor)], timeoutNanoseconds: Self.patience) == [true])
        #expect(future.isSettled)
    }

    @Test func aFailureSettlesEveryWatch() throws {
        let timeline = try Timeline.create(initialValue: 0)
        let watches = try (1...4).map { try TimelineWatch(timeline, for: UInt64($0)) }
        timeline.fail(status: -5)
        for watch in watches {
            #expect(try Poller.poll([PollRequest(descriptor: watch.descriptor)], timeoutNanoseconds: Self.patience) == [true])
        }
    }

    @Test func aSignalFromAnotherThreadWakesAPoll() throws {
        let timeline = try Timeline.create(initialValue: 0)
        let watch = try TimelineWatch(timeline, for: 10)
        try HostThread.spawn(name: "test.signal") { for point in 1...10 { try? timeline.signal(to: UInt64(point)) } }
        #expect(try Poller.poll([PollRequest(descriptor: watch.descriptor)], timeoutNanoseconds: Self.patience) == [true])
        #expect(timeline.value >= 10)
    }

    @Test func moreWatchesThanOneThreadServesAllFire() throws {
        let timelines = try (0..<200).map { _ in try Timeline.create(initialValue: 0) }
        let watches = try timelines.map { try TimelineWatch($0, for: 1) }
        for timeline in timelines.reversed() { try timeline.signal(to: 1) }
        for watch in watches {
            #expect(try Poller.poll([PollRequest(descriptor: watch.descriptor)], timeoutNanoseconds: Self.patience) == [true])
        }
    }
}
