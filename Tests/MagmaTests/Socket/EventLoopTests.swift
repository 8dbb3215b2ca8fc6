import Foundation
import Glibc
@testable import MagmaPlatform
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
            try? loop.run()
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
            let token = try loop.watch(reader.descriptor.fileDescriptor, for: .readable) { _, readiness in
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

    /// A loop whose epoll descriptor no longer is one (another file put in its place, as a
    /// kernel failure would leave it) tells every watch once, drops its timers and throws,
    /// instead of spinning on the failing wait.
    @Test func aLoopThatCannotWaitTellsEveryWatchAndThrows() throws {
        let loop = try EventLoop()
        let pairs = try (0..<3).map { _ in try MessageSocket.pair() }
        let told = Mutex<[Bool]>([])
        for (mine, _) in pairs {
            _ = try loop.watch(mine.descriptor.fileDescriptor, for: .readable) { _, readiness in
                told.withLock { $0.append(readiness.isLoopFailure && readiness.isHungUp) }
            }
        }
        let timerRan = Atomic<Bool>(false)
        loop.after(nanoseconds: 0) { timerRan.store(true, ordering: .relaxed) }
        let ended = DispatchSemaphore(value: 0)
        let failure = Mutex<PlatformError?>(nil)
        try HostThread.spawn(name: "test-loop") {
            do throws(PlatformError) { try loop.run() } catch { failure.withLock { $0 = error } }
            ended.signal()
        }
        // The timer is due at once, so the loop is past its first wait by now or soon; the
        // wake-up below ends a wait in progress on the old epoll file.
        #expect(eventually { timerRan.load(ordering: .relaxed) })
        let nothing = open("/dev/null", O_RDONLY)
        #expect(dup2(nothing, loop.epollDescriptor) == loop.epollDescriptor)
        close(nothing)
        loop.after(nanoseconds: 60_000_000_000) { Issue.record("a timer of a failed loop ran") }
        #expect(ended.wait(timeout: .now() + 10) == .success, "run() did not return")
        #expect(failure.withLock { $0?.call } == "epoll_wait")
        #expect(failure.withLock { $0?.code } == EINVAL)
        #expect(told.withLock { $0 } == [true, true, true], "every watch was told once, as a loop failure")
        #expect(loop.watchCount == 0)
        // A failed loop takes no new watch: its handler would never run.
        let (late, _) = try MessageSocket.pair()
        #expect(throws: PlatformError.self) {
            _ = try loop.watch(late.descriptor.fileDescriptor, for: .readable) { _, _ in Issue.record("a failed loop's late watch ran") }
        }
        #expect(loop.watchCount == 0)
        withExtendedLifetime(pairs) {}
    }

    @Test func anEmptyInterestStillReportsAHangUp() throws {
        try withLoop { loop in
            let (mine, peer) = try MessageSocket.pair()
            let hungUp = Atomic<Bool>(false)
            let token = try loop.watch(mine.descriptor.fileDescriptor, for: []) { _, readiness in
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
            #expect(throws: PlatformError.self) { _ = try loop.watch(file.fileDescriptor, for: .readable) { _, _ in } }
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

    /// Several threads running one loop (`run(batch: 1)`, as magmad's workers do): a ready
    /// descriptor goes to a free thread while another thread's handler waits, and `stop()` ends
    /// every thread.
    @Test func severalThreadsShareOneLoop() throws {
        let loop = try EventLoop()
        let ended = DispatchSemaphore(value: 0)
        for _ in 0..<3 {
            try HostThread.spawn(name: "test-loop") {
                try? loop.run(batch: 1)
                ended.signal()
            }
        }
        let (slowReader, slowWriter) = try MessageSocket.pair()
        let (quickReader, quickWriter) = try MessageSocket.pair()
        let quickRan = DispatchSemaphore(value: 0)
        let slowSawQuick = Atomic<Bool>(false)
        let slow = try loop.watch(slowReader.descriptor.fileDescriptor, for: .readable) { _, _ in
            // Waits for the other descriptor's handler, which only another thread can run.
            slowSawQuick.store(quickRan.wait(timeout: .now() + 10) == .success, ordering: .relaxed)
        }
        let quick = try loop.watch(quickReader.descriptor.fileDescriptor, for: .readable) { _, _ in quickRan.signal() }
        try slowWriter.send([1])
        usleep(20_000)
        try quickWriter.send([1])
        #expect(eventually { slowSawQuick.load(ordering: .relaxed) }, "a ready descriptor waited for a busy thread")
        loop.unwatch(slow)
        loop.unwatch(quick)
        loop.stop()
        for thread in 0..<3 { #expect(ended.wait(timeout: .now() + 10) == .success, "loop thread \(thread) did not return") }
    }

    /// A failed wait on a loop several threads run is thrown once: the other threads return.
    @Test func aSharedLoopThatCannotWaitThrowsOnce() throws {
        let loop = try EventLoop()
        let (mine, _) = try MessageSocket.pair()
        let told = Mutex<Int>(0)
        _ = try loop.watch(mine.descriptor.fileDescriptor, for: .readable) { _, readiness in
            if readiness.isLoopFailure { told.withLock { $0 += 1 } }
        }
        let ended = DispatchSemaphore(value: 0)
        let failures = Mutex<[PlatformError]>([])
        let started = Atomic<Int>(0)
        for _ in 0..<3 {
            try HostThread.spawn(name: "test-loop") {
                started.add(1, ordering: .relaxed)
                do throws(PlatformError) { try loop.run(batch: 1) } catch { failures.withLock { $0.append(error) } }
                ended.signal()
            }
        }
        #expect(eventually { started.load(ordering: .relaxed) == 3 })
        usleep(20_000)
        let nothing = open("/dev/null", O_RDONLY)
        #expect(dup2(nothing, loop.epollDescriptor) == loop.epollDescriptor)
        close(nothing)
        loop.after(nanoseconds: 60_000_000_000) {}   // wakes a thread, whose next wait fails
        for thread in 0..<3 { #expect(ended.wait(timeout: .now() + 10) == .success, "loop thread \(thread) did not return") }
        #expect(failures.withLock { $0.count } == 1)
        #expect(told.withLock { $0 } == 1, "the watch was told once")
    }
}
