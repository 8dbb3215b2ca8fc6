import Foundation
import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Testing

/// Issue 13, item 3: running magmad out of descriptors neither ends its accept loop nor locks
/// out other clients, and one client's descriptors are bounded per connection and per process.
@Suite(.serialized, .hangGuard) struct DescriptorExhaustionTests {
    @Test func anEMFILEDoesNotEndTheAcceptLoop() throws {
        let daemon = try BoundedDaemon(openFiles: 48, options: ["--max-sessions", "1000", "--max-sessions-per-process", "1000",
                                                                "--max-sessions-per-user", "1000"])
        #expect(answersQuery(daemon.devicePath))
        // Idle device sessions until the daemon runs out of descriptors (the backlog takes the rest).
        var idle: [MessageSocket] = []
        for _ in 0..<120 { if let socket = try? MessageSocket.connect(path: daemon.devicePath) { idle.append(socket) } }
        #expect(eventually(timeoutNanoseconds: 5_000_000_000) { openDescriptorCount(pid: daemon.pid) >= 47 }, "the daemon ran out")
        idle.removeAll()
        #expect(daemon.isAlive)
        #expect(eventually { answersQuery(daemon.devicePath, timeoutNanoseconds: 500_000_000) }, "the daemon accepts again")
        #expect(demoBystanderSucceeds(daemon.devicePath))
        #expect(daemon.stop() == 0)
    }

    @Test func oneConnectionHoldsAtMostItsDescriptors() throws {
        let daemon = try BoundedDaemon(options: ["--max-descriptors-per-connection", "16"])
        let bystander = try Bystander(devicePath: daemon.devicePath)
        let baseline = settledDescriptorCount(pid: daemon.pid)
        do {
            let attacker = try RawClient(path: daemon.devicePath)
            let event = try EventSemaphore()
            for id in 1...40 { try? attacker.importMemory(id: UInt64(id), event.descriptor.fileDescriptor, type: .semaphore) }
            #expect(try attacker.epitaph(within: 10_000_000_000) == .memoryError)
        }
        #expect(try bystander.fillVerified())
        #expect(descriptorsReturn(to: baseline, pid: daemon.pid), "\(openDescriptorCount(pid: daemon.pid)) descriptors, baseline \(baseline)")
        #expect(daemon.stop() == 0)
    }

    @Test func oneProcessHoldsAtMostItsDescriptorsAcrossConnections() throws {
        let daemon = try BoundedDaemon(options: ["--max-descriptors-per-connection", "16", "--max-descriptors-per-process", "24"])
        let first = try RawClient(path: daemon.devicePath)
        let second = try RawClient(path: daemon.devicePath)
        let event = try EventSemaphore()
        for id in 1...16 { try first.importMemory(id: UInt64(id), event.descriptor.fileDescriptor, type: .semaphore) }
        #expect(first.answersFlush())
        for id in 1...16 { try? second.importMemory(id: UInt64(id), event.descriptor.fileDescriptor, type: .semaphore) }
        #expect(try second.epitaph(within: 10_000_000_000) == .memoryError, "the connection that passed the process's share")
        #expect(first.answersFlush(), "the process's other connection goes on")
        #expect(demoBystanderSucceeds(daemon.devicePath), "another process is not charged")
        #expect(daemon.stop() == 0)
    }
}
