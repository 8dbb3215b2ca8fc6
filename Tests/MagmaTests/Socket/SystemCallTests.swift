import Glibc
import MagmaPlatform
import MagmaTestSupport
import SystemPackage
import Testing

/// The one system-call helper: errno is captured before anything else runs, EINTR is retried
/// (or handed back by `once`), and the C shims leave retrying to it.
@Suite(.hangGuard) struct SystemCallTests {
    /// The call's name is built after errno is read: a name whose building changes errno (as an
    /// allocation may) does not change the error.
    @Test func errnoIsReadBeforeTheNameIsBuilt() {
        #expect {
            try SystemCall.retrying({ errno = 0; return "clobbering name" }()) { () -> Int32 in
                errno = EBADF
                return -1
            }
        } throws: { ($0 as? PlatformError) == PlatformError(call: "clobbering name", errno: .badFileDescriptor) }
    }

    /// `retrying` calls again after EINTR (and after the errno it is told to retry too) and
    /// returns the call's result; `once` hands EINTR back.
    @Test func interruptedCallsAreRetriedOnlyByRetrying() throws {
        var calls = 0
        let interruptedThrice = { () -> Int32 in
            calls += 1
            guard calls > 3 else { errno = EINTR; return -1 }
            return 7
        }
        #expect(try SystemCall.retrying("test", interruptedThrice) == 7)
        #expect(calls == 4)
        calls = 0
        #expect { try SystemCall.once("test", interruptedThrice) } throws: { ($0 as? PlatformError)?.errno == .interrupted }
        #expect(calls == 1)
        calls = 0
        let againOnce = { () -> Int32 in
            calls += 1
            guard calls > 1 else { errno = EAGAIN; return -1 }
            return 0
        }
        #expect(try SystemCall.retrying("test", alsoRetrying: .resourceTemporarilyUnavailable, againOnce) == 0)
        #expect(calls == 2)
        calls = 0
        #expect { try SystemCall.retrying("test", againOnce) } throws: { ($0 as? PlatformError)?.errno == .wouldBlock }
    }

    /// A blocking receive interrupted by signals (a handler without SA_RESTART, so recvmsg
    /// fails with EINTR) goes on waiting and returns the record sent afterwards: the retry now
    /// lives in Swift, not in the C shim.
    @Test func aReceiveInterruptedBySignalsStillGetsItsRecord() throws {
        Self.installInterruptingHandler()
        let (reader, writer) = try MessageSocket.pair()
        let receiver = Locked<pthread_t?>(nil)
        let received = Locked<Result<[UInt8], PlatformError>?>(nil)
        let done = try EventSemaphore()
        try HostThread.spawn(name: "test.receive") {
            Self.acceptInterruptingSignal()
            receiver.withLock { $0 = pthread_self() }
            do throws(PlatformError) {
                guard case .message(let bytes, _, _)? = try reader.receive(capacity: 64) else { return }
                received.withLock { $0 = .success(bytes) }
            } catch {
                received.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        try Self.interruptRepeatedly(receiver, for: 100)
        try writer.send([1, 2, 3])
        #expect(done.wait(timeoutNanoseconds: 10_000_000_000), "the receive never returned")
        switch received.withLock({ $0 }) {
        case .success(let bytes)?: #expect(bytes == [1, 2, 3])
        case .failure(let error)?: Issue.record("the interrupted receive failed: \(error)")
        case nil: Issue.record("no record")
        }
    }

    /// A poll interrupted by signals goes on against its deadline and reports the descriptor
    /// that became ready afterwards.
    @Test func aPollInterruptedBySignalsStillSeesTheSignal() throws {
        Self.installInterruptingHandler()
        let semaphore = try EventSemaphore()
        let poller = Locked<pthread_t?>(nil)
        let outcome = Locked<Result<[Bool], PlatformError>?>(nil)
        let done = try EventSemaphore()
        try HostThread.spawn(name: "test.poll") {
            Self.acceptInterruptingSignal()
            poller.withLock { $0 = pthread_self() }
            do throws(PlatformError) {
                let ready = try Poller.poll([PollRequest(descriptor: semaphore.descriptor.fileDescriptor)], timeoutNanoseconds: 10_000_000_000)
                outcome.withLock { $0 = .success(ready) }
            } catch {
                outcome.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        try Self.interruptRepeatedly(poller, for: 100)
        semaphore.signal()
        #expect(done.wait(timeoutNanoseconds: 10_000_000_000), "the poll never returned")
        switch outcome.withLock({ $0 }) {
        case .success(let ready)?: #expect(ready == [true])
        case .failure(let error)?: Issue.record("the interrupted poll failed: \(error)")
        case nil: Issue.record("no outcome")
        }
    }

    /// SIGUSR2 with a handler that does nothing and no SA_RESTART: a system call it interrupts
    /// fails with EINTR. Nothing else in the tests' process uses SIGUSR2.
    private static func installInterruptingHandler() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0
        sigemptyset(&action.sa_mask)
        sigaction(SIGUSR2, &action, nil)
    }

    /// Unblocks SIGUSR2 on the calling thread: a thread started from a test inherits the signal
    /// mask of the test's worker thread, on which libdispatch blocks it.
    private static func acceptInterruptingSignal() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGUSR2)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Signals the thread `thread` names (once it has named itself) every millisecond for
    /// `milliseconds`, so some signals land while it sleeps in its call. The thread must not end
    /// meanwhile (it waits for what the test does after this).
    private static func interruptRepeatedly(_ thread: Locked<pthread_t?>, for milliseconds: Int) throws {
        let deadline = Deadline(after: 10_000_000_000)
        var target: pthread_t?
        while target == nil, !deadline.hasPassed {
            target = thread.withLock { $0 }
            usleep(1_000)
        }
        let named = try #require(target, "the thread never started")
        for _ in 0..<milliseconds {
            pthread_kill(named, SIGUSR2)
            usleep(1_000)
        }
    }
}
