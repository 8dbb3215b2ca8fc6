import Foundation
import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import SoftGPU
import MagmaTestSupport
import Testing

/// Issue 13, item 6: the client memory the GPU faults in on the daemon's behalf is bounded by
/// the imported-memory accounts (per process, per user, in all), which the daemon's memory
/// must cover.
@Suite(.serialized, .hangGuard) struct ClientMemoryChargeTests {
    @Test(.disabled(if: BuiltExecutables.areSanitized, "a sanitized magmad neither fits the memory cgroup nor fills 192 MB within its watchdog"))
    func gpuFillsOfSparseBuffersStayWithinTheImportBound() throws {
        let cgroup = memoryCgroup(megabytes: 512)
        let daemon = try BoundedDaemon(cgroup: cgroup, options: ["--max-imported-megabytes", "256"])
        // 192 MB the client never touches, filled by the GPU: the daemon pays for these pages.
        let attacker = try GPUSession(device: try Device.open(.socket(daemon.devicePath)))
        let (filled, address) = try attacker.mappedBuffer(size: 192 << 20)
        var stream = CommandStream()
        stream.fill(address: address, size: 192 << 20, pattern: 0x5A)
        stream.end()
        let done = try attacker.connection.createSemaphore()
        try attacker.submit(stream, signals: [done])
        try attacker.waitFor(done, timeoutNanoseconds: 30_000_000_000)
        #expect(try filled.u32(at: 191 << 20) == 0x5A)
        // Another 128 MB would pass the 256 MB all clients may import.
        let greedy = try GPUSession(device: try Device.open(.socket(daemon.devicePath)))
        _ = try? greedy.mappedBuffer(size: 128 << 20)
        expectStatus(.memoryError) { try greedy.connection.flush() }
        #expect(daemon.isAlive)
        #expect(demoBystanderSucceeds(daemon.devicePath), "a small client still fits")
        try attacker.connection.flush()
        #expect(daemon.stop() == 0)
        withExtendedLifetime(cgroup) {}
    }

    @Test func accountsChargeTheirParentsAndGiveBack() throws {
        let limits = ResourceAccount.Limits(maxDescriptors: 10, maxImportedBytes: 100)
        let server = ResourceAccount(limits: limits, holder: "server")
        let user = ResourceAccount(limits: ResourceAccount.Limits(maxDescriptors: 10, maxImportedBytes: 1000), holder: "user", parent: server)
        let first = ResourceAccount(limits: limits, holder: "first", parent: user)
        let second = ResourceAccount(limits: limits, holder: "second", parent: user)
        try first.move(from: .init(), to: .init(descriptors: 1, importedBytes: 60))
        expectStatus(.memoryError) { try second.move(from: .init(), to: .init(descriptors: 1, importedBytes: 60)) }
        #expect(second.held == .init(), "a refused charge charges nothing")
        #expect(server.held == .init(descriptors: 1, importedBytes: 60))
        try first.move(from: .init(descriptors: 1, importedBytes: 60), to: .init())
        try second.move(from: .init(), to: .init(descriptors: 1, importedBytes: 60))
        #expect(server.held == .init(descriptors: 1, importedBytes: 60) && first.held == .init())
    }
}
