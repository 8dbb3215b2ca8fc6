import CMagmaLinux
import Glibc
import SystemPackage

/// Starts detached OS threads for long-lived workers (engines, waiters).
public enum HostThread {
    private final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(_ name: String, _ body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Runs `body` on a new detached thread named `name` (at most 15 characters are kept).
    /// Fails (EAGAIN when the process or user may have no more threads) instead of trapping:
    /// a server refuses the work that needed the thread and goes on.
    public static func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws(PlatformError) {
        let retained = Unmanaged.passRetained(Box(name, body))
        let box = retained.toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            cmagma_set_thread_name(box.name)
            box.body()
            return nil
        }, box)
        guard result == 0 else {
            retained.release()
            throw PlatformError(call: "pthread_create", errno: Errno(rawValue: result))
        }
        pthread_detach(thread)
    }
}
