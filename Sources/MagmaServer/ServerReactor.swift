import MagmaPlatform
import SystemPackage

/// What a served descriptor's handler wants next.
enum ServeStep {
    /// Watch the descriptor again for these events.
    case arm(EventLoop.Interest)
    /// The handler has ended the descriptor's service (and unwatched it).
    case done
}

/// magmad's threads for its clients: a fixed set of workers that all run one event loop
/// (`EventLoop.run(batch: 1)` on each), which waits for every listener, session, connection
/// channel and notification channel. A ready descriptor goes to whichever worker is free, and
/// that worker serves it at once: there is no loop thread that hands work to another (a
/// request costs no wake-up of a second thread). Each descriptor is handled by one worker at a
/// time, in order, because its watch is one-shot and armed again only when its handler returns.
/// A handler that waits (for the GPU driver's locks) holds up its own worker only.
final class ServerReactor: Sendable {
    let loop: EventLoop

    /// Starts `workerCount` workers (at least one) in `group`. If the loop fails (it can no
    /// longer wait: `EventLoop.run()`), every served descriptor's handler has been told so (as a
    /// hang-up) and `loopFailed` runs, once, on the worker that saw it.
    init(workerCount: Int, group: ThreadGroup, loopFailed: @escaping @Sendable (PlatformError) -> Void) throws(PlatformError) {
        loop = try EventLoop()
        for _ in 0..<max(1, workerCount) {
            do throws(PlatformError) {
                try group.spawn(name: "magma-worker") { [loop] in
                    do throws(PlatformError) {
                        try loop.run(batch: 1)
                    } catch {
                        loopFailed(error)
                    }
                }
            } catch {
                stop()
                throw error
            }
        }
    }

    /// Serves `descriptor` (borrowed: its owner keeps it open until the watch ends): each time
    /// it is ready for what was asked (first `interest`), `handler` runs on a worker with its
    /// token, and says what to wait for next.
    func serve(_ descriptor: FileDescriptor, for interest: EventLoop.Interest,
               handler: @escaping @Sendable (EventLoop.Token, EventLoop.Readiness) -> ServeStep) throws(PlatformError) -> EventLoop.Token {
        try loop.watch(descriptor, for: interest) { [loop] token, readiness in
            if case .arm(let next) = handler(token, readiness) { loop.arm(token, for: next) }
        }
    }

    /// Runs `job` on a worker soon, never inside the caller (for work the caller must not do
    /// under the locks it holds).
    func soon(_ job: @escaping @Sendable () -> Void) {
        loop.after(nanoseconds: 0, job)
    }

    /// Stops the workers (each returns once its current handler is done).
    func stop() {
        loop.stop()
    }
}
