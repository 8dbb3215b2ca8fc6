import Glibc
import MagmaSystem

/// How much of the server one client may take, and how much all clients together may take.
///
/// A client is a process (its pid from SO_PEERCRED when it connected to the device endpoint)
/// and a user (its uid). Sessions and connections hold no thread (one event loop and a fixed
/// pool of workers serve them all): a session holds a descriptor, a connection two and what
/// it imports, and its notifications queued for a client that does not read them. A newcomer past a bound is refused and
/// logged, and everyone else goes on: a refused session's socket is closed at once (the client
/// sees CONNECTION_LOST); a refused connection gets a MEMORY_ERROR epitaph, then its channels
/// close. A client past its descriptor or memory bound loses the connection that passed it,
/// with MEMORY_ERROR.
public struct ServerLimits: Sendable, Equatable {
    /// Device and performance-counter sessions open at once, in all.
    public var maxSessions: Int
    /// Sessions one process may hold.
    public var maxSessionsPerProcess: Int
    /// Sessions one user may hold.
    public var maxSessionsPerUser: Int
    /// Connections served at once, in all.
    public var maxConnections: Int
    /// Connections one process may hold.
    public var maxConnectionsPerProcess: Int
    /// Connections one user may hold.
    public var maxConnectionsPerUser: Int
    /// What all the connections of one process may hold together.
    public var perProcess: ResourceAccount.Limits
    /// What all the connections of one user may hold together.
    public var perUser: ResourceAccount.Limits
    /// Notifications queued for one connection whose client does not read them (beyond what
    /// its socket buffer holds); past it, or past the device's flow-control byte limit
    /// (`FlowControlLimits.maxInflightMegabytes`) of queued bytes, the connection is closed
    /// with MEMORY_ERROR, its epitaph sent first.
    public var maxQueuedNotifications = 65_536
    /// Memory kept in reserve: while less is available (the smallest of the machine's
    /// MemAvailable and the headroom of the daemon's memory cgroups, `SystemMemoryGauge`), new
    /// connections (a MEMORY_ERROR epitaph) and new sessions (closed at once) are refused; the
    /// connections served go on, within their own bounds, and newcomers are taken again once
    /// memory is back (`MemoryReserve`). 0: no reserve.
    public var minAvailableBytes: UInt64 = 32 << 20
    /// What all connections may hold together. Its `maxImportedBytes` bounds the client
    /// memory the GPU can fault in on the daemon's behalf (and charge to the daemon's memory
    /// cgroup): keep it within the memory the daemon may use.
    public var total: ResourceAccount.Limits

    /// Creates bounds; see each property.
    public init(maxSessions: Int, maxSessionsPerProcess: Int, maxSessionsPerUser: Int,
                maxConnections: Int, maxConnectionsPerProcess: Int, maxConnectionsPerUser: Int,
                perProcess: ResourceAccount.Limits, perUser: ResourceAccount.Limits, total: ResourceAccount.Limits) {
        self.maxSessions = maxSessions
        self.maxSessionsPerProcess = maxSessionsPerProcess
        self.maxSessionsPerUser = maxSessionsPerUser
        self.maxConnections = maxConnections
        self.maxConnectionsPerProcess = maxConnectionsPerProcess
        self.maxConnectionsPerUser = maxConnectionsPerUser
        self.perProcess = perProcess
        self.perUser = perUser
        self.total = total
    }

    /// The defaults: 256 sessions (16 per process, 64 per user), 1,024 connections (64 per
    /// process, 256 per user); 4,096 descriptors per process, 16,384 per user and 65,536 in
    /// all; imported memory of half the machine's physical memory in all, and of a quarter of
    /// it per user and per process; pending work of 256 MB per process and per user, 1 GiB in all.
    public static let standard: ServerLimits = {
        let half = physicalMemoryBytes / 2
        return ServerLimits(
            maxSessions: 256, maxSessionsPerProcess: 16, maxSessionsPerUser: 64,
            maxConnections: 1024, maxConnectionsPerProcess: 64, maxConnectionsPerUser: 256,
            perProcess: ResourceAccount.Limits(maxDescriptors: 4096, maxImportedBytes: half / 2, maxPendingBytes: 256 << 20),
            perUser: ResourceAccount.Limits(maxDescriptors: 16_384, maxImportedBytes: half / 2, maxPendingBytes: 256 << 20),
            total: ResourceAccount.Limits(maxDescriptors: 65_536, maxImportedBytes: half, maxPendingBytes: 1 << 30))
    }()

    /// The machine's physical memory (sysconf).
    private static var physicalMemoryBytes: UInt64 {
        UInt64(max(0, sysconf(Int32(_SC_PHYS_PAGES)))) * UInt64(max(0, sysconf(Int32(_SC_PAGESIZE))))
    }
}
