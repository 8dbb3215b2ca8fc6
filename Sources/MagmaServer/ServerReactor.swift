import MagmaPlatform

/// What a served descriptor's handler wants next.
enum ServeStep {
    /// Watch the descriptor again for these events.
    case arm(EventLoop.Interest)
    /// The handler has ended the descriptor's service (and unwatched it).
    case done
}

/// magmad's threads for its clients: one event loop that waits for every listener, session,
/// connection channel and notification channel, and a fixed pool of workers that does what
/// the ready descriptors call for. The loop thread only dispatches: requests (which reach the
/// GPU driver and may wait for locks) and every system call run on the workers. Each descriptor
/// is handled by one worker at a time, in order, because its watch is armed again only when
/// its handler returns.
final class ServerReactor: Sendable {
    let loop: EventLoop
    let workers: WorkerPool

    /// Starts the loop thread and `workerCount` workers in `group`. If the loop fails (it can
    /// no longer wait: `EventLoop.run()`), every served descriptor's handler has been told so
    /// (as a hang-up, on the workers) and `loopFailed` runs on the loop's thread.
    init(workerCount: Int, group: ThreadGroup, loopFailed: @escaping @Sendable (PlatformError) -> Void) throws(PlatformError) {
        loop = try EventLoop()
        workers = WorkerPool(threadCount: workerCount)
        try group.spawn(name: "magma-loop") { [loop] in
            do throws(PlatformError) {
                try loop.run()
            } catch {
                loopFailed(error)
            }
        }
        for _ in 0..<workers.threadCount {
            do throws(PlatformError) {
                try group.spawn(name: "magma-worker") { [workers] in workers.runWorker() }
            } catch {
                stop()
                throw error
            }
        }
    }

    /// Serves `descriptor`: each time it is ready for what was asked (first `interest`),
    /// `handler` runs on a worker with its token, and says what to wait for next.
    func serve(_ descriptor: Int32, for interest: EventLoop.Interest,
               handler: @escaping @Sendable (EventLoop.Token, EventLoop.Readiness) -> ServeStep) throws(PlatformError) -> EventLoop.Token {
        try loop.watch(descriptor, for: interest) { [workers, loop] token, readiness in
            workers.submit {
                if case .arm(let next) = handler(token, readiness) { loop.arm(token, for: next) }
            }
        }
    }

    /// Stops the loop and the workers (their threads return once their current job is done).
    func stop() {
        loop.stop()
        workers.stop()
    }
}
