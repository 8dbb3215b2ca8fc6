import Foundation
import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaWire
import MagmaTestSupport
import Testing

/// magmad's resident memory in bytes (VmRSS), or nil if it cannot be read.
func residentBytes(pid: Int32) -> UInt64? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kilobytes = UInt64(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
    return kilobytes * 1024
}

/// A memory cgroup of `megabytes` for magmad, or nil (with the reason printed) where none can
/// be made here.
func memoryCgroup(megabytes: Int) -> TestCgroup? {
    let group = TestCgroup(controller: "memory", settings: ["memory.limit_in_bytes": "\(megabytes << 20)"])
    if group == nil { print("no writable memory cgroup (/sys/fs/cgroup/memory): magmad runs unbounded, its RSS is checked instead") }
    return group
}

/// Issue 13, item 5: tiny messages cannot make the daemon spend memory the client is not
/// charged for.
@Suite(.serialized, .hangGuard) struct DaemonMemoryAttackTests {
    @Test func mappingsOfASparseBufferCostNoPageTables() throws {
        let cgroup = memoryCgroup(megabytes: 256)
        // Import bounds above 4 GiB whatever this machine's memory: nothing here faults pages in.
        let daemon = try BoundedDaemon(cgroup: cgroup, options: ["--max-imported-megabytes", "8192", "--max-imported-megabytes-per-user", "8192",
                                                                 "--max-imported-megabytes-per-process", "8192"])
        let bystander = try Bystander(devicePath: daemon.devicePath)
        let attacker = try RawClient(path: daemon.devicePath)
        let sparse = try SharedMemory.create(size: 4 << 30)   // 4 GiB, no page allocated
        try attacker.importMemory(id: 1, try #require(sparse.descriptor).fileDescriptor)
        for index in 0..<95 { try attacker.map(1, at: UInt64(index + 1) << 32, length: 4 << 30) }
        #expect(attacker.answersFlush(), "95 maps of 4 GiB are held")
        #expect(daemon.isAlive)
        let resident = residentBytes(pid: daemon.pid) ?? .max
        #expect(resident < 128 << 20, "magmad holds \(resident) bytes after mapping 380 GiB")
        #expect(try bystander.fillVerified())
        #expect(daemon.stop() == 0)
        withExtendedLifetime(cgroup) {}
    }

    @Test func inlineCommandsPastOneMessagesBudgetAreInvalid() throws {
        let daemon = try BoundedDaemon()
        let bystander = try Bystander(devicePath: daemon.devicePath)
        let attacker = try RawClient(path: daemon.devicePath)
        try attacker.send(.createContext(.init(contextId: 1)))
        let command = InlineCommand(data: [UInt8](repeating: 0, count: 1536), semaphores: [])
        try attacker.send(.executeInlineCommands(.init(contextId: 1, commands: [command, command])))
        #expect(try attacker.epitaph(within: 10_000_000_000) == .invalidArgs)
        #expect(try bystander.fillVerified())
        #expect(daemon.stop() == 0)
    }

    @Test func vectorsThatAliasOneBlockDoNotDecode() throws {
        let commands = (0..<1024).map { _ in InlineCommand(data: [UInt8](repeating: 7, count: 8), semaphores: []) }
        var bytes = try PrimaryProtocol.ExecuteInlineCommands(contextId: 1, commands: commands).encoded().bytes
        let load = { (offset: Int) in bytes[offset..<(offset + 4)].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) } }
        let structs = load(32)
        let firstData = load(structs)
        for index in 0..<1024 {   // every command's data: all 8 KiB of the data block
            let descriptor = structs + index * 32
            withUnsafeBytes(of: UInt32(firstData).littleEndian) { bytes.replaceSubrange(descriptor..<(descriptor + 4), with: $0) }
            withUnsafeBytes(of: UInt32(8192).littleEndian) { bytes.replaceSubrange((descriptor + 4)..<(descriptor + 8), with: $0) }
        }
        #expect(throws: WireError.outOfBounds(field: "inline_command.data")) {
            _ = try PrimaryProtocol.ClientMessage.decode(bytes: bytes, handles: [])
        }
    }
}
