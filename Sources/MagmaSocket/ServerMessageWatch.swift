import MagmaPlatform
import Synchronization
import SystemPackage

/// Tells a connection, without a syscall on its side, whether its server has sent anything on
/// the primary channel since it last read: one event loop per process (`magma.client`, started
/// by the first connection) watches every connection's primary channel and raises the
/// connection's flag when the channel turns readable. So the error check every API call makes
/// reads a flag while nothing has arrived, and reads the channel only once something has (the
/// epitaph, a flow-control event, a reply): the epitaph arrives by readiness.
///
/// Where the process cannot start the loop (no thread or no epoll descriptor to be had), or
/// once the loop has failed, `isWatched` is false and the connection checks the channel itself
/// with a zero-timeout poll, as it did before the loop existed.
final class ServerMessageWatch: Sendable {
    /// The flags the loop's handler raises.
    private final class Flags: Sendable {
        /// Something may have arrived since `takeArrival()` last returned true.
        let arrived = Atomic<Bool>(true)
        /// The loop failed: nothing more will be reported.
        let broken = Atomic<Bool>(false)
    }

    /// The process's loop, or nil when it could not be started.
    private static let loop: EventLoop? = {
        guard let loop = try? EventLoop() else { return nil }
        do { try HostThread.spawn(name: "magma.client") { try? loop.run() } } catch { return nil }
        return loop
    }()

    private let flags = Flags()
    private let token: EventLoop.Token?

    /// Watches `descriptor` (borrowed: its owner keeps it open until `stop()` returns).
    init(descriptor: FileDescriptor) {
        let flags = self.flags
        token = try? Self.loop?.watch(descriptor, for: .readable) { _, readiness in
            if readiness.isLoopFailure { flags.broken.store(true, ordering: .releasing) }
            flags.arrived.store(true, ordering: .releasing)
        }
    }

    /// Whether the loop watches the channel; when false, `takeArrival()` says nothing and the
    /// connection polls the channel itself.
    var isWatched: Bool { token != nil && !flags.broken.load(ordering: .acquiring) }

    /// Whether something arrived since the last call that returned true (and clears that). A
    /// caller that gets true reads the channel and then calls `rearm()`.
    func takeArrival() -> Bool {
        flags.arrived.load(ordering: .acquiring) && flags.arrived.exchange(false, ordering: .acquiringAndReleasing)
    }

    /// Watches again once the caller has read what arrived: the flag goes up at once if more
    /// is waiting.
    func rearm() {
        if let token { Self.loop?.arm(token, for: .readable) }
    }

    /// Stops watching; call it before the descriptor closes.
    func stop() {
        if let token { Self.loop?.unwatch(token) }
    }
}
