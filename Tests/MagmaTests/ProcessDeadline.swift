import Foundation
import Glibc
import MagmaPlatform

/// Kills a child process with SIGKILL if it still runs when its time is up, so a child that
/// hangs (or a daemon that ignores SIGTERM) fails its test with a message instead of hanging the
/// run.
final class ProcessDeadline {
    /// The limit, for messages.
    let seconds: Int
    private let fired = Locked(false)
    private let item: DispatchWorkItem

    /// Starts the clock for a process that is running.
    init(_ process: Process, seconds: Int) {
        self.seconds = seconds
        let pid = process.processIdentifier
        let fired = fired
        item = DispatchWorkItem {
            fired.withLock { $0 = true }
            kill(pid, SIGKILL)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds), execute: item)
    }

    deinit { item.cancel() }

    /// Waits for the process; nil if it exited in time, else what happened.
    func wait(for process: Process) -> String? {
        process.waitUntilExit()
        item.cancel()
        return fired.withLock { $0 } ? "\(process.executableURL?.lastPathComponent ?? "the process") was killed: still running after \(seconds) s" : nil
    }
}
