import CMagmaLinux
import Glibc
import SystemPackage

/// An epoll event loop: the threads that call `run()` (one, or several at once) wait for many
/// descriptors and run a handler for each one that is ready, plus timers.
///
/// Every watch is one-shot: once its descriptor is reported ready, to one thread, it is
/// reported no more until `arm(_:for:)` is called again. So one descriptor's handler never runs
/// twice at once, and its events stay in order when the handler (or the work it hands on) arms
/// it again only when done. With one thread, handlers and timers must not block; with several
/// (`run(batch: 1)` on each, as magmad's workers do), a handler that waits holds up only its own
/// thread, and a ready descriptor goes to whichever thread is free, with no hand-off between
/// threads.
public final class EventLoop: Sendable {
    /// What a watch waits for.
    public struct Interest: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Readable, or at the end of the stream.
        public static let readable = Interest(rawValue: cmagma_epoll_in)
        /// Room to write.
        public static let writable = Interest(rawValue: cmagma_epoll_out)
    }

    /// What was ready: the events asked for, hang-ups and errors (reported whatever was asked).
    public struct Readiness: Sendable {
        public let rawValue: UInt32
        /// Readable (or at the end of the stream).
        public var isReadable: Bool { rawValue & cmagma_epoll_in != 0 }
        /// Writable.
        public var isWritable: Bool { rawValue & cmagma_epoll_out != 0 }
        /// The peer hung up or the descriptor failed (also set when the loop itself failed).
        public var isHungUp: Bool { rawValue & (cmagma_epoll_hangup | cmagma_epoll_error) != 0 }
        /// The loop itself can no longer wait (`run()` is about to throw): nothing more will
        /// be reported for any descriptor.
        public var isLoopFailure: Bool { rawValue & Readiness.loopFailureBit != 0 }
        /// A bit epoll never reports, which marks the readiness of a loop failure.
        fileprivate static let loopFailureBit: UInt32 = 1 << 30
    }

    /// One watched descriptor.
    public struct Token: Hashable, Sendable {
        fileprivate let value: UInt64
    }

    private struct Watch {
        let descriptor: FileDescriptor
        let handler: @Sendable (Token, Readiness) -> Void
    }

    private struct Timer {
        let deadline: UInt64
        let body: @Sendable () -> Void
    }

    private struct State {
        var watches: [UInt64: Watch] = [:]
        var nextToken: UInt64 = 1
        var timers: [Timer] = []
        var stopped = false
    }

    /// The token of the loop's own wake-up eventfd.
    private static let wakeToken: UInt64 = 0

    private let epoll: OwnedFileDescriptor
    private let wake: EventSemaphore
    private let state = Locked(State())

    /// A loop with nothing watched; nothing runs before `run()`.
    public init() throws(PlatformError) {
        let fd = try SystemCall.once("epoll_create1") { cmagma_epoll_create() }
        epoll = OwnedFileDescriptor(taking: fd)
        wake = try EventSemaphore()
        try SystemCall.once("epoll_ctl(ADD wake)") { cmagma_epoll_ctl(fd, cmagma_epoll_add, wake.descriptor.rawValue, cmagma_epoll_in, Self.wakeToken) }
    }

    /// Descriptors watched now.
    public var watchCount: Int { state.withLock { $0.watches.count } }

    /// The epoll descriptor, for tests that make the loop fail (by putting another file in its
    /// place with dup2).
    var epollDescriptor: Int32 { epoll.rawValue }

    /// Watches `descriptor` for `interest` (an empty interest still reports hang-ups and
    /// errors), once: `handler` runs on the loop's thread the first time it is ready, and again
    /// only after `arm(_:for:)`; it gets the watch's token. The descriptor is borrowed: its owner
    /// keeps it open until `unwatch` returns. Fails
    /// for a descriptor epoll cannot watch (EPERM: a regular file) or when the kernel is out of
    /// memory for it, and (ECANCELED) once the loop has stopped or failed. If the loop fails
    /// while the watch is being added, the watch is returned and its handler told of the
    /// failure, never both that and an error.
    public func watch(_ descriptor: FileDescriptor, for interest: Interest,
                      handler: @escaping @Sendable (Token, Readiness) -> Void) throws(PlatformError) -> Token {
        // The watch is listed before epoll hears of it, so no readiness can come unclaimed; a
        // loop that has stopped or failed takes no new watch (its handler would never run).
        let token = state.withLock { state -> UInt64? in
            guard !state.stopped else { return nil }
            let token = state.nextToken
            state.nextToken += 1
            state.watches[token] = Watch(descriptor: descriptor, handler: handler)
            return token
        }
        guard let token else { throw PlatformError(call: "watch (the event loop has stopped)", errno: .canceled) }
        do throws(PlatformError) {
            try SystemCall.once("epoll_ctl(ADD)") {
                cmagma_epoll_ctl(epoll.rawValue, cmagma_epoll_add, descriptor.rawValue, interest.rawValue | cmagma_epoll_oneshot, token)
            }
        } catch let failure {
            let withdrawn = state.withLock { $0.watches.removeValue(forKey: token) != nil }
            // Not withdrawn: the loop failed in between and took the watch, so its handler is
            // told of the failure (its one last event). Throwing too would end its owner twice.
            guard withdrawn else { return Token(value: token) }
            throw failure
        }
        return Token(value: token)
    }

    /// Arms a watch again for `interest`: its handler runs once more when the descriptor is
    /// ready (at once if it is ready now). Does nothing for a watch already removed.
    public func arm(_ token: Token, for interest: Interest) {
        // Under the lock (epoll_ctl does not block), so that a watch removed meanwhile, whose
        // descriptor number may already name another watched file, is never touched.
        state.withLock { state in
            guard let descriptor = state.watches[token.value]?.descriptor else { return }
            _ = cmagma_epoll_ctl(epoll.rawValue, cmagma_epoll_modify, descriptor.rawValue, interest.rawValue | cmagma_epoll_oneshot, token.value)
        }
    }

    /// Stops watching: the handler is released and never runs again once this returns (a
    /// handler already running finishes). Call it before the descriptor closes: epoll forgets
    /// a descriptor only when every copy of it is closed, and a client may hold a copy.
    public func unwatch(_ token: Token) {
        let watch = state.withLock { state in
            let watch = state.watches.removeValue(forKey: token.value)
            if let watch { _ = cmagma_epoll_ctl(epoll.rawValue, cmagma_epoll_delete, watch.descriptor.rawValue, 0, token.value) }
            return watch
        }
        withExtendedLifetime(watch) {}   // the handler is released here, outside the lock
    }

    /// Runs `body` on one of the loop's threads once `nanoseconds` have passed (0: as soon as a
    /// thread looks at its timers, never inside the caller).
    public func after(nanoseconds: UInt64, _ body: @escaping @Sendable () -> Void) {
        let deadline = Clock.monotonicNanoseconds() &+ nanoseconds
        state.withLock { $0.timers.append(Timer(deadline: deadline, body: body)) }
        wake.signal()
    }

    /// Makes `run()` return soon; watches and timers left are dropped.
    public func stop() {
        state.withLock { $0.stopped = true }
        wake.signal()
    }

    /// Waits for ready descriptors and due timers and runs their handlers, until `stop()`. Each
    /// wait takes at most `batch` ready descriptors (1 to 64): where several threads run the
    /// loop, 1 lets each ready descriptor go to a free thread.
    ///
    /// If the loop can no longer wait (epoll_wait fails with anything but EINTR, which only a
    /// broken epoll descriptor or a kernel fault causes), every handler still watching runs
    /// once more, on this thread, with a readiness that `isHungUp` and `isLoopFailure`, so each
    /// owner ends what it serves as if its peer had gone; then the watches and timers are
    /// dropped and `run()` throws the error (in the first thread whose wait failed; the loop's
    /// other threads return). It never spins on a failing wait.
    public func run(batch: Int = 64) throws(PlatformError) {
        let capacity = min(max(batch, 1), 64)
        var tokens = [UInt64](repeating: 0, count: capacity)
        var events = [UInt32](repeating: 0, count: capacity)
        // Every thread that leaves signals the wake-up again, so the loop's other threads (which
        // may sleep in epoll_wait) see it too.
        defer { wake.signal() }
        while true {
            let (stopped, timeout, due) = nextTimers()
            if stopped { break }
            due.forEach { $0() }
            let count: Int32
            do throws(PlatformError) {
                // Once: after EINTR the loop looks at its timers again before it waits.
                count = try SystemCall.once("epoll_wait") {
                    tokens.withUnsafeMutableBufferPointer { tokenBuffer in
                        events.withUnsafeMutableBufferPointer { eventBuffer in
                            cmagma_epoll_wait(epoll.rawValue, tokenBuffer.baseAddress, eventBuffer.baseAddress, Int32(tokenBuffer.count), timeout)
                        }
                    }
                }
            } catch where error.errno == .interrupted {
                continue
            } catch {
                guard failEveryWatch() else { break }   // another thread's wait failed first
                throw error
            }
            for index in 0..<Int(count) {
                if tokens[index] == Self.wakeToken {
                    // Reset, then look again at the stop flag (at the top): a stop whose signal
                    // this consumed is seen there, and passed on by the `defer`.
                    wake.reset()
                    continue
                }
                let handler = state.withLock { $0.watches[tokens[index]]?.handler }
                handler?(Token(value: tokens[index]), Readiness(rawValue: events[index]))
            }
        }
        state.withLock { state in
            state.watches = [:]
            state.timers = []
        }
    }

    /// Runs every watch's handler once with a loop-failure readiness and drops the watches and
    /// timers. Handlers are taken out under the lock and run outside it. Returns false (and
    /// does nothing) when the loop had stopped already: another thread failed first, or `stop()`.
    private func failEveryWatch() -> Bool {
        let watches = state.withLock { state -> [(token: UInt64, handler: @Sendable (Token, Readiness) -> Void)]? in
            guard !state.stopped else { return nil }
            defer {
                state.watches = [:]
                state.timers = []
                state.stopped = true
            }
            return state.watches.map { (token: $0.key, handler: $0.value.handler) }
        }
        guard let watches else { return false }
        let failed = Readiness(rawValue: cmagma_epoll_error | Readiness.loopFailureBit)
        for watch in watches { watch.handler(Token(value: watch.token), failed) }
        return true
    }

    /// Whether the loop stopped, how long the next wait may last (milliseconds, -1 for no
    /// bound) and the timers now due, taken off the list.
    private func nextTimers() -> (stopped: Bool, timeout: Int32, due: [@Sendable () -> Void]) {
        let now = Clock.monotonicNanoseconds()
        return state.withLock { state in
            if state.stopped { return (true, 0, []) }
            if state.timers.isEmpty { return (false, -1, []) }
            let due = state.timers.filter { $0.deadline <= now }.map(\.body)
            state.timers.removeAll { $0.deadline <= now }
            guard let next = state.timers.map(\.deadline).min() else { return (false, -1, due) }
            return (false, Int32(clamping: (next - now + 999_999) / 1_000_000), due)
        }
    }
}
