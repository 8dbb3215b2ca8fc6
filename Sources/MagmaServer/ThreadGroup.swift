import Dispatch
import MagmaPlatform

/// The server's threads: started by name, and waited for at shutdown.
final class ThreadGroup: Sendable {
    private let group = DispatchGroup()

    /// Runs `body` on a new thread counted in the group; fails if no thread can be had.
    func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws(PlatformError) {
        group.enter()
        do {
            try HostThread.spawn(name: name) { [group] in
                body()
                group.leave()
            }
        } catch {
            group.leave()
            throw error
        }
    }

    /// Waits until every thread has returned, or `timeoutNanoseconds` passes. Returns whether
    /// they all did.
    func wait(timeoutNanoseconds: UInt64) -> Bool {
        group.wait(timeout: .now() + .nanoseconds(Int(clamping: timeoutNanoseconds))) == .success
    }
}
