import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaVhostUser
import MagmaVirtioHost
import MagmaWire
import Testing

@Suite("A hostile guest or front-end: bad chains and messages are typed errors, never a crash or a hang", .timeLimit(.minutes(1)))
struct HostileFrontEndTests {
    static let page = TestFrontEnd.page

    /// Makes `head` available on the control queue and expects the ring to fail (its error
    /// eventfd signaled), the cursor queue and the session to go on.
    func expectRingFails(_ front: TestFrontEnd, head: UInt16 = 0, _ what: Comment, saying words: String) throws {
        front.queues[0].publish(head)
        front.queues[0].kickNow()
        #expect(front.queues[0].error.wait(timeoutNanoseconds: 20_000_000_000), what)
        let failure = try #require(front.session.backend.ringFailures[0], what)
        #expect(failure.description.contains(words), "\(failure)")
        let cursor = try front.queues[1].add([(front.place([1, 2, 3]), 3, false)])
        front.queues[1].kickNow()
        #expect(front.queues[1].waitUsed(cursor) == 0, what)
        #expect(u64(try #require(try front.request(.getQueueNum)).payload) == 2, what)
    }

    @Test func aLoopingChainFailsItsRingOnly() throws {
        let front = try TestFrontEnd()
        try front.start()
        let buffer = UInt64(front.allocate())
        front.queues[0].writeDescriptor(0, address: buffer, length: 16, flags: 1, next: 1)
        front.queues[0].writeDescriptor(1, address: buffer, length: 16, flags: 1, next: 0)
        try expectRingFails(front, "loop", saying: "a loop")
    }

    @Test func aNextPastTheTableFailsItsRing() throws {
        let front = try TestFrontEnd()
        try front.start()
        front.queues[0].writeDescriptor(0, address: UInt64(front.allocate()), length: 16, flags: 1, next: 200)
        try expectRingFails(front, "next past the table", saying: "next 200 is past a table of 64")
    }

    @Test func aHeadPastTheTableFailsItsRing() throws {
        let front = try TestFrontEnd()
        try front.start()
        try expectRingFails(front, head: 64, "head past the table", saying: "head 64 is past")
    }

    @Test func aBufferOutsideGuestMemoryFailsItsRing() throws {
        let front = try TestFrontEnd()
        try front.start()
        front.queues[0].writeDescriptor(0, address: UInt64(front.ram.size) - 8, length: 16, flags: 0, next: 0)
        try expectRingFails(front, "a buffer across the end of guest memory", saying: "not inside one region")
    }

    @Test func aNestedIndirectTableFailsItsRing() throws {
        let front = try TestFrontEnd()
        try front.start()
        let table = front.allocate()
        front.bytes.storeBytes(of: UInt64(table), toByteOffset: table, as: UInt64.self)      // points at itself
        front.bytes.storeBytes(of: UInt32(16), toByteOffset: table + 8, as: UInt32.self)
        front.bytes.storeBytes(of: UInt16(4), toByteOffset: table + 12, as: UInt16.self)
        front.queues[0].writeDescriptor(0, address: UInt64(table), length: 16, flags: 4, next: 0)
        try expectRingFails(front, "an indirect table inside an indirect table", saying: "inside an indirect table")
    }

    /// An indirect table carrying a whole command is served like a direct chain.
    @Test func anIndirectChainIsServed() throws {
        let front = try TestFrontEnd()
        try front.start()
        let request = VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0), .getCapsetInfo(index: 0))
        let requestAddress = front.place(request), response = front.allocate(), table = front.allocate()
        for (slot, entry) in [(UInt64(requestAddress), UInt32(request.count), UInt16(1)), (UInt64(response), UInt32(Self.page), UInt16(2))].enumerated() {
            front.bytes.storeBytes(of: entry.0, toByteOffset: table + 16 * slot, as: UInt64.self)
            front.bytes.storeBytes(of: entry.1, toByteOffset: table + 16 * slot + 8, as: UInt32.self)
            front.bytes.storeBytes(of: entry.2, toByteOffset: table + 16 * slot + 12, as: UInt16.self)
            front.bytes.storeBytes(of: UInt16(1), toByteOffset: table + 16 * slot + 14, as: UInt16.self)
        }
        front.queues[0].writeDescriptor(0, address: UInt64(table), length: 32, flags: 4, next: 0)
        front.queues[0].publish(0)
        front.queues[0].kickNow()
        let length = try #require(front.queues[0].waitUsed(0))
        let (_, answer) = try VirtioGPU.decodeResponse(Array(front.bytes[response..<(response + Int(length))]))
        #expect(answer == .okCapsetInfo(id: 7, maxVersion: 1, maxSize: answer.capsetSize))
    }

    /// Well-framed requests the back-end refuses are acknowledged with a failure, change
    /// nothing, and the session goes on.
    @Test func refusedRequestsAreAcknowledgedAndTheSessionGoesOn() throws {
        let front = try TestFrontEnd()
        try front.start()
        let fd = try #require(front.ram.descriptor)
        #expect(try front.acked(.setMemTable, le32(2) + le32(0) + [UInt8](repeating: 0, count: 64), fds: [try fd.duplicate()]) != 0)
        #expect(try front.acked(.setMemTable, front.memTable(guestAddress: 0x1001), fds: [try fd.duplicate()]) != 0)   // unaligned
        #expect(try front.acked(.setMemTable, front.memTable(size: 1 << 40), fds: [try fd.duplicate()]) != 0)          // past the memfd
        #expect(try front.acked(.setFeatures, le64(1 << 63)) != 0)
        #expect(try front.acked(.setVringNum, le32(0) + le32(100)) != 0)                   // not a power of two
        #expect(try front.acked(.setVringNum, le32(9) + le32(64)) != 0)                    // no such ring
        #expect(try front.acked(.setVringAddr, le32(0) + le32(0) + le64(1) + le64(2) + le64(3) + le64(0)) != 0)   // ring running
        var pipeFds: [Int32] = [0, 0]
        #expect(pipe(&pipeFds) == 0)
        close(pipeFds[1])
        #expect(try front.acked(.setVringCall, le64(0), fds: [OwnedFileDescriptor(taking: pipeFds[0])]) != 0)   // not an eventfd
        #expect(try front.acked(.setVringKick, le64(0)) != 0)                              // fd count
        try front.channel.send(VhostUserMessage(request: 99, flags: VhostUserMessage.version | VhostUserMessage.needReplyFlag))
        #expect(u64(try #require(try front.channel.receive()).payload) != 0)
        #expect(front.session.refused.count == 10)
        // The device still works: the memory table and rings are as they were.
        try front.ok(.contextCreate(contextInit: 0, debugName: []), context: 3)
    }

    @Test func aBrokenHeaderEndsTheSessionCleanly() throws {
        let front = try TestFrontEnd()
        try front.start()
        try front.ok(.contextCreate(contextInit: 0, debugName: []), context: 1)
        let model = try #require(front.gpu.model)
        try front.channel.send(VhostUserMessage(request: 1, flags: 2))   // version 2
        #expect(front.session.ended.wait(timeoutNanoseconds: 20_000_000_000))
        #expect(front.session.endReason != nil)
        #expect(model.counts.contexts == 0 && front.gpu.model == nil)
        #expect(try front.channel.receive() == nil)   // the front-end sees the end of its socket
    }

    @Test func aMessageCutShortEndsTheSession() throws {
        let front = try TestFrontEnd()
        try front.start()
        try front.channel.socket.send(le32(5) + le32(1) + le32(264) + le32(1))   // a memory table cut short
        front.channel.socket.shutdown()
        #expect(front.session.ended.wait(timeoutNanoseconds: 20_000_000_000))
        guard case .truncated = front.session.endReason else { Issue.record("\(String(describing: front.session.endReason))"); return }
    }

    /// The front-end vanishes while a fenced command waits: the session ends, the device model
    /// releases every context, resource and pending fence, nothing is left pending.
    @Test func aFrontEndVanishingMidWorkLeavesNothingHeld() throws {
        let front = try TestFrontEnd()
        try front.start()
        try front.ok(.contextCreate(contextInit: 0, debugName: []), context: 1)
        let page = front.allocate()
        try front.ok(.resourceCreate3D(.buffer(id: 1, size: UInt32(Self.page))))
        try front.ok(.resourceAttachBacking(resourceId: 1, entries: [.init(address: UInt64(page), length: UInt32(Self.page))]))
        try front.ok(.contextAttachResource(resourceId: 1), context: 1)
        try front.ok(.submit3D(commands: try VirtioContextCommand.payload([.virtio(.createSemaphore(.init(semaphoreId: 5)))])), context: 1)
        let wait = try VirtioContextCommand.payload([.virtio(.waitSemaphores(.init(semaphoreIds: [5], waitAll: true,
                                                                                      reply: GuestReplyArea(resourceId: 1, offset: 0, length: 512))))])
        _ = try front.submitControl(VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0, flags: VirtioGPU.flagFence, fenceId: 1, contextId: 1), .submit3D(commands: wait)))
        #expect(eventually { front.session.backend.pendingCount == 1 })
        let model = try #require(front.gpu.model)
        #expect(front.gpu.model?.memory.mappedPieces ?? 0 > 0)
        front.channel.socket.shutdown()
        #expect(front.session.ended.wait(timeoutNanoseconds: 20_000_000_000))
        #expect(front.session.endReason == nil)
        #expect(model.counts.contexts == 0 && model.counts.resources == 0 && model.counts.pendingFences == 0)
        #expect(model.memory.mappedPieces == 0)
        #expect(front.session.backend.pendingCount == 0 && front.session.backend.ended.isSignaled)
    }

    /// One front-end breaking the protocol does not touch another's device.
    @Test func oneFrontEndsFailureLeavesAnotherRunning() throws {
        let broken = try TestFrontEnd(), healthy = try TestFrontEnd()
        try broken.start()
        try healthy.start()
        try healthy.ok(.contextCreate(contextInit: 0, debugName: []), context: 1)
        try broken.channel.send(VhostUserMessage(request: 1, flags: 3))
        #expect(broken.session.ended.wait(timeoutNanoseconds: 20_000_000_000))
        try healthy.ok(.contextCreate(contextInit: 0, debugName: []), context: 2)
        #expect(healthy.gpu.model?.counts.contexts == 2)
    }
}

extension VirtioGPU.Response {
    /// The capset size of an OK_CAPSET_INFO (0 otherwise).
    var capsetSize: UInt32 {
        if case .okCapsetInfo(_, _, let size) = self { size } else { 0 }
    }
}
