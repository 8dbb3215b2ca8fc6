import Glibc
import MagmaPlatform

/// How much memory this process could still take before it runs short: what a server sizes
/// new work against (issue 20: memory pressure refuses new work and recovers).
public protocol MemoryGauge: Sendable {
    /// Bytes available now, or nil if this gauge cannot tell.
    func availableBytes() -> UInt64?
}

/// The machine's and this process's memory cgroup's headroom: the smallest of MemAvailable
/// (/proc/meminfo) and, for the cgroup of each hierarchy that bounds memory, its limit minus
/// its usage: cgroup v2 (memory.max - memory.current of the group and of each ancestor) and
/// cgroup v1 (hierarchical_memory_limit from memory.stat - memory.usage_in_bytes, which counts
/// the page cache: a client's memfd pages the GPU faulted in are charged there). Each call
/// reads those files (a few tens of microseconds): sample it, do not call it per request.
public struct SystemMemoryGauge: MemoryGauge {
    /// Where the cgroup hierarchies are mounted.
    public let cgroupRoot: String

    public init(cgroupRoot: String = "/sys/fs/cgroup") { self.cgroupRoot = cgroupRoot }

    public func availableBytes() -> UInt64? {
        let machine = Self.read("/proc/meminfo").flatMap(Self.memAvailable(meminfo:))
        let groups = Self.read("/proc/self/cgroup").map { Self.cgroupHeadrooms(membership: $0, root: cgroupRoot) } ?? []
        return ([machine].compactMap { $0 } + groups).min()
    }

    /// MemAvailable of /proc/meminfo, in bytes.
    public static func memAvailable(meminfo: String) -> UInt64? {
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kibibytes = UInt64(fields[1]) else { return nil }
            return kibibytes << 10
        }
        return nil
    }

    /// The headroom of every memory cgroup bounding this process, from /proc/self/cgroup.
    public static func cgroupHeadrooms(membership: String, root: String) -> [UInt64] {
        var headrooms: [UInt64] = []
        for line in membership.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2])
            if parts[1].isEmpty {          // cgroup v2: this group and each ancestor
                var group = path
                while true {
                    let directory = root + (group == "/" ? "" : group)
                    if let limit = read(directory + "/memory.max").flatMap(limitValue), let usage = read(directory + "/memory.current").flatMap(number) {
                        headrooms.append(limit > usage ? limit - usage : 0)
                    }
                    guard group != "/", !group.isEmpty else { break }
                    group = parent(of: group)
                }
            } else if parts[1].split(separator: ",").contains("memory") {   // cgroup v1: the hierarchy's own limit
                let directory = root + "/memory" + (path == "/" ? "" : path)
                if let stat = read(directory + "/memory.stat"), let limit = v1HierarchicalLimit(stat: stat),
                   let usage = read(directory + "/memory.usage_in_bytes").flatMap(number) {
                    headrooms.append(limit > usage ? limit - usage : 0)
                }
            }
        }
        return headrooms
    }

    /// memory.stat's hierarchical_memory_limit (the smallest limit of the group and its
    /// ancestors), nil when unlimited (v1 writes a number near 2^63 then).
    public static func v1HierarchicalLimit(stat: String) -> UInt64? {
        for line in stat.split(separator: "\n") where line.hasPrefix("hierarchical_memory_limit ") {
            guard let value = UInt64(line.dropFirst("hierarchical_memory_limit ".count)), value < 1 << 62 else { return nil }
            return value
        }
        return nil
    }

    /// A v2 memory.max: a number, or nil for "max" (no limit).
    public static func limitValue(_ text: String) -> UInt64? { number(text) }

    private static func number(_ text: String) -> UInt64? { UInt64(text.split(whereSeparator: \.isWhitespace).first ?? "") }

    /// "/a/b" -> "/a", "/a" -> "/".
    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    /// A small text file's contents (procfs and cgroupfs files), nil if it cannot be read.
    private static func read(_ path: String) -> String? {
        guard let fd = try? SystemCall.retrying("open(\(path))", { open(path, O_RDONLY | O_CLOEXEC) }) else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            guard let count = try? SystemCall.retrying("read(\(path))", { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }),
                  count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
