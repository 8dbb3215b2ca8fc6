import Foundation
import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaServer
import MagmaTestSupport
import SoftGPU
import Synchronization
import Testing

/// A gauge the test sets.
final class ScriptedMemoryGauge: MemoryGauge {
    let bytes = Atomic<UInt64>(1 << 40)
    func availableBytes() -> UInt64? { bytes.load(ordering: .acquiring) }
}

/// Issue 20: memory pressure refuses newcomers and recovers; what is served goes on.
@Suite(.hangGuard) struct MemoryReserveTests {
    @Test func underPressureNewcomersAreRefusedServedClientsGoOnAndItRecovers() throws {
        let gauge = ScriptedMemoryGauge()
        let server = try TestServer(softGPU: SoftGPUConfiguration(), memoryGauge: gauge, minAvailableBytes: 64 << 20)
        let device = try server.open()
        let served = try Bystander(devicePath: server.server.devicePath)
        #expect(try served.fillVerified())

        gauge.bytes.store(16 << 20, ordering: .releasing)
        expectStatus(.memoryError) { try device.createConnection().flush() }
        #expect(throws: MagmaError.self, "a new session is closed at once") { try server.open().createConnection().flush() }
        #expect(try served.fillVerified(), "a client served before the shortage goes on, buffers and all")

        gauge.bytes.store(65 << 20, ordering: .releasing)
        try device.createConnection().flush()
        #expect(try Bystander(devicePath: server.server.devicePath).fillVerified(), "newcomers are taken again")
    }

    @Test func noReserveRefusesNothing() throws {
        let gauge = ScriptedMemoryGauge()
        gauge.bytes.store(0, ordering: .releasing)
        let server = try TestServer(softGPU: SoftGPUConfiguration(), memoryGauge: gauge, minAvailableBytes: 0)
        try server.open().createConnection().flush()
    }

    @Test func theReserveSamplesItsGaugeAtMostOncePerInterval() {
        let gauge = ScriptedMemoryGauge()
        let reserve = MemoryReserve(reserveBytes: 64 << 20, gauge: gauge, sampleNanoseconds: 60_000_000_000)
        #expect(reserve.refusal("x") == nil)
        gauge.bytes.store(1 << 20, ordering: .releasing)
        #expect(reserve.refusal("x") == nil, "the last sample stands until the interval has passed")
        let immediate = MemoryReserve(reserveBytes: 64 << 20, gauge: gauge, sampleNanoseconds: 0)
        #expect(immediate.refusal("a new connection")?.status == .memoryError)
        #expect(immediate.refusal("a new connection")?.message.contains("1 MiB available, below the reserve of 64 MiB") == true)
    }

    @Test func theSystemGaugeReadsThisMachine() throws {
        let available = try #require(SystemMemoryGauge().availableBytes())
        let total = UInt64(sysconf(Int32(_SC_PHYS_PAGES))) * UInt64(sysconf(Int32(_SC_PAGESIZE)))
        #expect(available > 0 && available <= total)
    }

    @Test func theGaugeParsesMeminfoAndCgroupFiles() {
        #expect(SystemMemoryGauge.memAvailable(meminfo: "MemTotal:       32000000 kB\nMemFree:  100 kB\nMemAvailable:   23528124 kB\n") == 23_528_124 << 10)
        #expect(SystemMemoryGauge.memAvailable(meminfo: "MemTotal: 1 kB\n") == nil)
        #expect(SystemMemoryGauge.v1HierarchicalLimit(stat: "cache 4096\nhierarchical_memory_limit 536870912\n") == 512 << 20)
        #expect(SystemMemoryGauge.v1HierarchicalLimit(stat: "hierarchical_memory_limit 9223372036854771712\n") == nil, "unlimited")
        #expect(SystemMemoryGauge.limitValue("max\n") == nil)
        #expect(SystemMemoryGauge.limitValue("268435456\n") == 256 << 20)
    }

    /// A cgroup tree laid out as cgroup v2 and v1 write it: the smallest headroom of the group
    /// and its ancestors (v2), and the v1 memory hierarchy's.
    @Test func cgroupHeadroomsComeFromTheGroupAndItsAncestors() throws {
        let root = "/tmp/magma-cgroup-\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = try? FileManager.default.removeItem(atPath: root) }
        let files: [String: String] = [
            "/a/memory.max": "1073741824\n", "/a/memory.current": "104857600\n",
            "/a/b/memory.max": "max\n", "/a/b/memory.current": "5\n",
            "/memory/c/memory.stat": "hierarchical_memory_limit 209715200\n", "/memory/c/memory.usage_in_bytes": "52428800\n",
        ]
        for (path, text) in files {
            let directory = root + path[..<path.lastIndex(of: "/")!]
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try text.write(toFile: root + path, atomically: false, encoding: .utf8)
        }
        let headrooms = SystemMemoryGauge.cgroupHeadrooms(membership: "4:memory:/c\n0::/a/b\n", root: root)
        #expect(Set(headrooms) == [150 << 20, 924 << 20])
    }
}

/// The reserve on magmad's real memory cgroup (v1 here): GPU fills of a client's buffer are
/// charged to the daemon's cgroup until its headroom is below the reserve; newcomers are then
/// refused while the client goes on; once it releases the buffer, newcomers are taken again.
@Suite(.serialized, .hangGuard) struct MemoryReserveCgroupTests {
    @Test(.disabled(if: BuiltExecutables.areSanitized, "a sanitized magmad does not fit the memory cgroup"))
    func theDaemonsCgroupHeadroomGatesNewcomers() throws {
        guard let cgroup = memoryCgroup(megabytes: 320) else { return }
        let daemon = try BoundedDaemon(cgroup: cgroup, options: ["--min-available-megabytes", "128", "--max-imported-megabytes", "1024",
                                                                 "--max-imported-megabytes-per-user", "1024", "--max-imported-megabytes-per-process", "1024"])
        let device = try Device.open(.socket(daemon.devicePath))
        try device.createConnection().flush()
        var filler: GPUSession? = try GPUSession(device: try Device.open(.socket(daemon.devicePath)))
        try fill(224 << 20, on: try #require(filler))
        #expect(eventually(timeoutNanoseconds: 5_000_000_000) { status { try device.createConnection().flush() } == .memoryError },
                "a newcomer is refused while the daemon's cgroup has under 128 MB of room")
        try filler?.connection.flush()   // the filler goes on
        filler = nil                     // its connection closes: the last holders of the buffer's pages let go
        #expect(eventually(timeoutNanoseconds: 10_000_000_000) { status { try device.createConnection().flush() } == .ok },
                "once the buffer's pages are freed, newcomers are taken again")
        #expect(daemon.isAlive && daemon.log.contains("refused"))
        #expect(daemon.stop() == 0)
        withExtendedLifetime(cgroup) {}
    }

    /// A buffer of `size` bytes the client never touches, filled by the GPU (its pages are
    /// then charged to the daemon's cgroup), released again by the client (the daemon holds it
    /// while the connection lives).
    private func fill(_ size: UInt64, on session: GPUSession) throws {
        let (filled, address) = try session.mappedBuffer(size: size)
        var stream = CommandStream()
        stream.fill(address: address, size: size, pattern: 0x5A)
        stream.end()
        let done = try session.connection.createSemaphore()
        try session.submit(stream, signals: [done])
        try session.waitFor(done, timeoutNanoseconds: 60_000_000_000)
        #expect(try filled.u32(at: Int(size) - 4) == 0x5A)
    }

    private func status(_ body: () throws -> Void) -> MagmaStatus {
        do { try body(); return .ok } catch let error as MagmaError { return error.status } catch { return .internalError }
    }
}
