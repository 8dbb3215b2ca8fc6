import MagmaPlatform
import MagmaSystem

/// The resource accounts of the server's clients: one per client process with a connection,
/// charged also to one per user, charged also to one for the whole server. An account lives
/// while a connection uses it.
struct ClientAccounts {
    private let limits: ServerLimits
    /// Everything every connection holds.
    let server: ResourceAccount
    private var processes: [Int32: (account: ResourceAccount, users: Int)] = [:]
    private var users: [UInt32: (account: ResourceAccount, users: Int)] = [:]

    init(limits: ServerLimits) {
        self.limits = limits
        server = ResourceAccount(limits: limits.total, holder: "all clients together")
    }

    /// The account of `peer`'s process, for one more connection.
    mutating func take(for peer: PeerCredentials?) -> ResourceAccount {
        let (process, user) = Self.key(peer)
        let userAccount = users[user]?.account ?? ResourceAccount(limits: limits.perUser, holder: "uid \(user)", parent: server)
        users[user] = (userAccount, (users[user]?.users ?? 0) + 1)
        let processAccount = processes[process]?.account
            ?? ResourceAccount(limits: limits.perProcess, holder: "pid \(process)", parent: userAccount)
        processes[process] = (processAccount, (processes[process]?.users ?? 0) + 1)
        return processAccount
    }

    /// A connection of `peer`'s process has ended (and given back all it held).
    mutating func give(for peer: PeerCredentials?) {
        let (process, user) = Self.key(peer)
        if let entry = processes[process] { processes[process] = entry.users > 1 ? (entry.account, entry.users - 1) : nil }
        if let entry = users[user] { users[user] = entry.users > 1 ? (entry.account, entry.users - 1) : nil }
    }

    private static func key(_ peer: PeerCredentials?) -> (process: Int32, user: UInt32) {
        (peer?.processId ?? -1, peer?.userId ?? .max)
    }
}
