import Foundation
import Glibc
import MagmaPlatform
import MagmaTestSupport
import Synchronization
import Testing

/// The event loop magmad serves its clients from: one-shot watches, arming, unwatching and
/// timers, on a loop thread of the test's own.
@Suite(.serialized, .hangGuard) struct EventLoopTests {
    /// Runs `body` with a running loop, then stops it and waits for its thread.
    func withLoop(_ body: (EventLoop) throws -> Void) throws {
        let loop = try EventLoop()
        let ended = DispatchSemaphore(value: 0)
        try HostThread.spawn(name: "test-loop") {
            loop.run()
            ended.signal()
        }
        defer {
            loop.stop()
            ended.wait()
        }
        try body(loop)
    }

    @Test func aWatchFiresOnceUntilArmedAgain() throws {
        try withLoop { loop in
            let (reader, writer) = try MessageSocket.pair()
            let fired = Atomic<Int>(0)
            let token = try loop.watch(reader.descriptor.rawValue, for: .readable) { _, readiness in
                if readiness.isReadable { fired.add(1, ordering: .relaxed) }
            }
            try writer.send([1])
            #expect(eventually { fired.load(ordering: .relaxed) == 1 })
            try writer.send([2])   // still readable, but the watch is not armed
            usleep(50_000)
            let whileUnarmed = fired.load(ordering: .relaxed)
            #expect(whileUnarmed == 1)
            loop.arm(token, for: .readable)   // readable now: fires at once
            #expect(eventually { fired.load(ordering: .relaxed) == 2 })
            loop.unwatch(token)
            loop.arm(token, for: .readable)   // removed: nothing happens
            usleep(50_000)
            let afterUnwatch = fired.load(ordering: .relaxed)
            #expect(afterUnwatch == 2)
            #expect(loop.watchCount == 0)
        }
    }

    @Test func anEmptyInterestStillReportsAHangUp() throws {
        try withLoop { loop in
            let (mine, peer) = try MessageSocket.pair()
            let hungUp = Atomic<Bool>(false)
            let token = try loop.watch(mine.descriptor.rawValue, for: []) { _, readiness in
                if readiness.isHungUp { hungUp.store(true, ordering: .relaxed) }
            }
            peer.shutdown()
            #expect(eventually { hungUp.load(ordering: .relaxed) })
            loop.unwatch(token)
        }
    }

    @Test func aRegularFileCannotBeWatched() throws {
        try withLoop { loop in
            let path = FileManager.default.temporaryDirectory.appending(path: "magma-epoll-\(UUID().uuidString.prefix(8))").path
            let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
            try #require(fd >= 0)
            let file = OwnedFileDescriptor(taking: fd)
            defer { unlink(path) }
            #expect(throws: PlatformError.self) { _ = try loop.watch(file.rawValue, for: .readable) { _, _ in } }
            #expect(loop.watchCount == 0)
        }
    }

    @Test func timersRunOnceTheirTimeHasPassed() throws {
        try withLoop { loop in
            let order = Locked<[Int]>([])
            loop.after(nanoseconds: 60_000_000) { order.withLock { $0.append(2) } }
            loop.after(nanoseconds: 1_000_000) { order.withLock { $0.append(1) } }
            #expect(eventually { order.withLock { $0.count } == 2 })
            #expect(order.withLock { $0 } == [1, 2])
        }
    }

    @Test func aWorkerPoolRunsEveryJobOnItsFixedThreads() throws {
        let pool = WorkerPool(threadCount: 3)
        let ended = DispatchSemaphore(value: 0)
        for _ in 0..<pool.threadCount {
            try HostThread.spawn(name: "test-worker") {
                pool.runWorker()
                ended.signal()
            }
        }
        let done = Atomic<Int>(0)
        for _ in 0..<1_000 { pool.submit { done.add(1, ordering: .relaxed) } }
        #expect(eventually { done.load(ordering: .relaxed) == 1_000 })
        pool.stop()
        for _ in 0..<pool.threadCount { ended.wait() }
        pool.submit { done.add(1, ordering: .relaxed) }   // stopped: dropped
        let afterStop = done.load(ordering: .relaxed)
        #expect(afterStop == 1_000)
    }
}
