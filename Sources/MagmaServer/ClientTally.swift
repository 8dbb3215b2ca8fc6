import MagmaPlatform

/// Counts how many of one resource (sessions, connections) each client process and each user
/// holds, against a bound per process, per user and in total, so that one client holding many
/// cannot lock out another. A peer whose credentials are unknown counts as one process and user.
struct ClientTally {
    let perProcess: Int
    let perUser: Int
    let total: Int
    private var byProcess: [Int32: Int] = [:]
    private var byUser: [UInt32: Int] = [:]
    /// How many are held in all.
    private(set) var count = 0

    init(perProcess: Int, perUser: Int, total: Int) {
        self.perProcess = perProcess
        self.perUser = perUser
        self.total = total
    }

    /// Takes one for `peer` if every bound allows it. Returns nil if taken, otherwise the bound
    /// that refused it, for the log.
    mutating func take(for peer: PeerCredentials?) -> String? {
        let (process, user) = Self.key(peer)
        if count >= total { return "\(count) held in all, the limit" }
        if byUser[user, default: 0] >= perUser { return "uid \(user) holds \(perUser), the limit per user" }
        if byProcess[process, default: 0] >= perProcess { return "pid \(process) holds \(perProcess), the limit per process" }
        count += 1
        byUser[user, default: 0] += 1
        byProcess[process, default: 0] += 1
        return nil
    }

    /// Gives back one taken for `peer`.
    mutating func give(for peer: PeerCredentials?) {
        let (process, user) = Self.key(peer)
        count -= 1
        byUser[user] = byUser[user].flatMap { $0 > 1 ? $0 - 1 : nil }
        byProcess[process] = byProcess[process].flatMap { $0 > 1 ? $0 - 1 : nil }
    }

    private static func key(_ peer: PeerCredentials?) -> (process: Int32, user: UInt32) {
        (peer?.processId ?? -1, peer?.userId ?? .max)
    }
}
