import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaVhostUser
import MagmaVirtioHost
import MagmaWire
import SoftGPU
import Testing

@Suite("virtio-gpu over vhost-user: a front-end in the test drives the device through virtqueues", .timeLimit(.minutes(1)))
struct VhostUserGPUTests {
    static let page = TestFrontEnd.page

    @Test func theCapsetDisplayAndConfigAreAnsweredOverTheControlQueue() throws {
        let front = try TestFrontEnd()
        try front.start()
        let config = try #require(try front.request(.getConfig, le32(0) + le32(16) + le32(0) + [UInt8](repeating: 0, count: 16)))
        #expect(Array(config.payload[12...]) == le32(0) + le32(0) + le32(1) + le32(1))   // one scanout, one capset
        let (_, info) = try front.control(VirtioGPU.ControlHeader(type: 0), .getCapsetInfo(index: 0))
        guard case .okCapsetInfo(let id, _, let size) = info else { Issue.record("\(info)"); return }
        #expect(id == VirtioGPU.magmaCapsetId)
        let (_, capset) = try front.control(VirtioGPU.ControlHeader(type: 0), .getCapset(id: 7, version: 1))
        guard case .okCapset(let data) = capset else { Issue.record("\(capset)"); return }
        #expect(data.count == Int(size))
        #expect(try VirtioMagmaCapset(decoding: data).devices.count == 1)

        let (head, response) = try front.submitControl(VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0x0100), .unsupported(type: 0x0100)))
        let displayLength = front.queues[0].waitUsed(head)
        #expect(displayLength == UInt32(24 + 16 * 24))
        #expect(front.bytes.load(fromByteOffset: response, as: UInt32.self) == 0x1101)
        #expect(front.bytes[(response + 24)..<(response + 24 + 16 * 24)].allSatisfy { $0 == 0 })   // every scanout disabled
        let (edid, edidResponse) = try front.submitControl(VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0x010A), .unsupported(type: 0x010A)) + le32(0) + le32(0))
        let edidLength = front.queues[0].waitUsed(edid)
        #expect(edidLength == UInt32(24 + 8 + 1024))
        #expect(front.bytes.load(fromByteOffset: edidResponse, as: UInt32.self) == 0x1104)

        // The cursor queue is drained.
        let cursor = try front.queues[1].add([(front.place([UInt8](repeating: 1, count: 56)), 56, false)])
        front.queues[1].kickNow()
        #expect(front.queues[1].waitUsed(cursor) == 0)
    }

    /// QEMU's vhost-user-gpu front-end offers EVENT_IDX to the guest whatever the back-end says,
    /// and the guest kernel takes it: the device then asks for kicks with avail_event and
    /// interrupts only when the used index passes the driver's used_event.
    @Test func withEventIndexTheDeviceAsksForKicksAndInterruptsPastUsedEvent() throws {
        let front = try TestFrontEnd()
        let offered = u64(try #require(try front.request(.getFeatures)).payload)
        #expect(offered & VhostUserFeature.eventIndex != 0)
        try front.start(features: offered | VhostUserFeature.eventIndex)
        #expect(front.session.refused.isEmpty)
        let queue = front.queues[0]
        queue.setUsedEvent(3)   // an interrupt once used entry 3 is filled, none before
        let command = VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0), .getCapsetInfo(index: 0))
        for entry in 0..<4 {
            let head = try queue.add([(front.place(command), command.count, false), (front.allocate(), Self.page, true)])
            // As a driver with EVENT_IDX does: kick only when avail_event names the entry just made available.
            #expect(queue.availableEvent == UInt16(entry), "entry \(entry)")
            queue.kickNow()
            #expect(eventually { queue.usedNow(head) != nil }, "entry \(entry) completes")
            #expect(eventually { queue.availableEvent == UInt16(entry + 1) }, "the device asks for a kick at entry \(entry + 1)")
            if entry == 2 { #expect(queue.takeInterrupts() == 0, "no interrupt before used entry 3") }
        }
        #expect(queue.call.wait(timeoutNanoseconds: 20_000_000_000))
        #expect(queue.takeInterrupts() == 1)
    }

    /// The host's figure beside `VirtGPUKernelDeviceTests.aFencedCallsRoundTripFigure` (which
    /// runs in a guest): the same fenced flush, from a front-end in this process straight onto
    /// the rings (no kernel, no QEMU, no TCG); each reply checked.
    @Test func aFencedCallsRoundTripFigure() throws {
        let front = try TestFrontEnd(pages: 512)   // two fresh pages a round
        try front.start()
        try front.ok(.contextCreate(contextInit: 0, debugName: Array("vhost".utf8)), context: 1)
        let replies = try createResource(front, id: 1, context: 1)
        let payload = try VirtioContextCommand.payload([.virtio(.flush(.init(reply: reply(1))))])
        let rounds = 200
        let clock = ContinuousClock()
        let start = clock.now
        for round in 0..<rounds {
            front.bytes.storeBytes(of: 0, toByteOffset: replies, as: UInt32.self)
            let header = VirtioGPU.ControlHeader(type: 0, flags: VirtioGPU.flagFence, fenceId: UInt64(round + 1), contextId: 1)
            let (answer, response) = try front.control(header, .submit3D(commands: payload))
            #expect(response == .okNoData && answer.isFenced, "round \(round)")
            #expect(front.bytes.load(fromByteOffset: replies, as: UInt32.self) != 0, "round \(round): a reply")
        }
        let elapsed = clock.now - start
        let microseconds = Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
        print("host (in-process front-end on the rings): fenced flush round trip \(Int(microseconds / Double(rounds))) us (\(rounds) rounds)")
    }

    /// The host's figure beside `VirtGPUKernelDeviceTests.aFencedFillThroughputFigure`: fenced
    /// SUBMIT_3Ds of one SoftGPU fill each, of 64 KiB and of 4 MiB, from a front-end in this
    /// process; each round's pattern checked at both ends of the range.
    @Test func aFencedFillThroughputFigure() throws {
        let front = try TestFrontEnd(pages: 1600)   // 1,024 for the target, two fresh pages a round
        try front.start()
        try front.ok(.contextCreate(contextInit: 0, debugName: Array("vhost".utf8)), context: 1)
        _ = try createResource(front, id: 1, context: 1)
        let commands = try createResource(front, id: 2, context: 1)
        let target = try createResource(front, id: 3, pages: 1024, context: 1)
        let address: UInt64 = 0x10_0000
        try submit(front, [
            .virtio(.createBuffer(.init(resourceId: 2, memoryType: 0, bufferId: 20, reply: reply(1)))),
            .virtio(.createBuffer(.init(resourceId: 3, memoryType: 0, bufferId: 30, reply: reply(1, offset: 512)))),
            .primary(.createContext(.init(contextId: 7, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: address, range: BufferRange(bufferId: 30, offset: 0, length: UInt64(1024 * Self.page)), flags: [.read, .write]))),
        ])
        var fence: UInt64 = 0
        for (size, rounds) in [(64 << 10, 200), (4 << 20, 20)] {
            let clock = ContinuousClock()
            let start = clock.now
            for round in 0..<rounds {
                var stream = CommandStream()
                stream.fill(address: address, size: UInt64(size), pattern: UInt32(round + 1))
                stream.end()
                front.bytes[commands..<(commands + stream.bytes.count)].copyBytes(from: stream.bytes)
                let payload = try VirtioContextCommand.payload([.primary(.executeCommand(.init(
                    contextId: 7, resources: [BufferRange(bufferId: 20, offset: 0, length: UInt64(stream.bytes.count))],
                    commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: [],
                    signalSemaphores: [], flags: 0, waitTimelinePoints: [], signalTimelinePoints: [])))])
                fence += 1
                let (answer, response) = try front.control(VirtioGPU.ControlHeader(type: 0, flags: VirtioGPU.flagFence, fenceId: fence, contextId: 1),
                                                           .submit3D(commands: payload))
                #expect(response == .okNoData && answer.isFenced)
                #expect([0, size - 4].allSatisfy { front.bytes.load(fromByteOffset: target + $0, as: UInt32.self) == UInt32(round + 1) }, "round \(round)")
            }
            let seconds = Double((clock.now - start).components.attoseconds) / 1e18 + Double((clock.now - start).components.seconds)
            print("host (in-process front-end on the rings): fenced fill of \(size >> 10) KiB: \(Int(seconds * 1e6 / Double(rounds))) us a submission, \(Int(Double(size * rounds) / seconds / 1_048_576)) MiB/s (\(rounds) rounds)")
        }
    }

    /// A fenced SUBMIT_3D's fill lands in the guest's pages, and its chain completes only then.
    @Test func aFencedFillLandsInGuestPagesAndCompletesItsChain() throws {
        let front = try TestFrontEnd()
        try front.start()
        try front.ok(.contextCreate(contextInit: 0, debugName: Array("vhost".utf8)), context: 1)
        let replies = try createResource(front, id: 1, context: 1)
        let commands = try createResource(front, id: 2, context: 1)
        let target = try createResource(front, id: 3, pages: 2, context: 1)
        let address: UInt64 = 0x10_0000
        var stream = CommandStream()
        stream.fill(address: address, size: UInt64(2 * Self.page), pattern: 0xFEED_0018)
        stream.end()
        front.bytes[commands..<(commands + stream.bytes.count)].copyBytes(from: stream.bytes)
        let payload = try VirtioContextCommand.payload([
            .virtio(.createBuffer(.init(resourceId: 2, memoryType: 0, bufferId: 20, reply: reply(1)))),
            .virtio(.createBuffer(.init(resourceId: 3, memoryType: 0, bufferId: 30, reply: reply(1, offset: 512)))),
            .primary(.createContext(.init(contextId: 7, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: address, range: BufferRange(bufferId: 30, offset: 0, length: UInt64(2 * Self.page)), flags: [.read, .write]))),
            .primary(.executeCommand(.init(contextId: 7, resources: [BufferRange(bufferId: 20, offset: 0, length: UInt64(stream.bytes.count))],
                                           commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: [],
                                           signalSemaphores: [], flags: 0, waitTimelinePoints: [], signalTimelinePoints: []))),
        ])
        let header = VirtioGPU.ControlHeader(type: 0, flags: VirtioGPU.flagFence | VirtioGPU.flagInfoRingIndex, fenceId: 1, contextId: 1, ringIndex: 0)
        let (head, response) = try front.submitControl(VirtioGPU.encode(header, .submit3D(commands: payload)))
        let length = try #require(front.queues[0].waitUsed(head))
        let (answer, result) = try VirtioGPU.decodeResponse(Array(front.bytes[response..<(response + Int(length))]))
        #expect(result == .okNoData && answer.fenceId == 1 && answer.isFenced)
        // The chain completed after the fill: the guest's pages hold it now.
        let words = UnsafeRawBufferPointer(rebasing: front.bytes[target..<(target + 2 * Self.page)])
        #expect((0..<(2 * Self.page / 4)).allSatisfy { words.load(fromByteOffset: $0 * 4, as: UInt32.self) == 0xFEED_0018 })
        for offset in [0, 512] {   // both buffers were made
            let length = Int(front.bytes.load(fromByteOffset: replies + offset, as: UInt32.self).littleEndian)
            let message = try VirtioContextProtocol.ServerMessage.decode(bytes: Array(front.bytes[(replies + offset)..<(replies + offset + length)])).message
            guard case .statusReply(let status) = message else { Issue.record("\(message)"); continue }
            #expect(status.status == .ok)
        }
    }

    /// A fenced wait's chain stays out of the used ring until its semaphore is signaled by a
    /// later command, which completes first.
    @Test func aFencedCommandIsAnsweredOnlyWhenItsFenceCompletes() throws {
        let front = try TestFrontEnd()
        try front.start()
        try front.ok(.contextCreate(contextInit: 0, debugName: []), context: 1)
        _ = try createResource(front, id: 1, context: 1)
        try submit(front, [.virtio(.createSemaphore(.init(semaphoreId: 5)))])
        let wait = try VirtioContextCommand.payload([.virtio(.waitSemaphores(.init(semaphoreIds: [5], waitAll: true, reply: reply(1))))])
        let fenced = VirtioGPU.ControlHeader(type: 0, flags: VirtioGPU.flagFence, fenceId: 9, contextId: 1)
        let (head, _) = try front.submitControl(VirtioGPU.encode(fenced, .submit3D(commands: wait)))
        try submit(front, [])   // a later unfenced command completes while the wait is pending
        #expect(front.queues[0].usedNow(head) == nil)
        #expect(front.session.backend.pendingCount == 1)
        try submit(front, [.virtio(.signalSemaphore(.init(semaphoreId: 5)))])
        #expect(front.queues[0].waitUsed(head) == 24)
        #expect(front.session.backend.pendingCount == 0)
    }

    /// Stopping every ring resets the device: its contexts and resources are released.
    @Test func stoppingEveryRingResetsTheDevice() throws {
        let front = try TestFrontEnd()
        try front.start()
        try front.ok(.contextCreate(contextInit: 0, debugName: []), context: 1)
        _ = try createResource(front, id: 1, context: 1)
        let before = try #require(front.gpu.model)
        #expect(before.counts.contexts == 1 && before.counts.resources == 1)
        for index: UInt32 in [0, 1] {
            let base = try #require(try front.request(.getVringBase, le32(index) + le32(0)))
            #expect(base.payload == le32(index) + le32(index == 0 ? 4 : 0))   // the entries the driver made available
        }
        #expect(before.counts.contexts == 0 && before.counts.resources == 0)
        let after = try #require(front.gpu.model)
        #expect(after !== before && after.counts.contexts == 0)
    }

    /// RESET_OWNER frees the guest's objects and clears the rings: a kick needs them set up again.
    @Test func resetOwnerFreesTheDeviceAndClearsTheRings() throws {
        let front = try TestFrontEnd()
        try front.start()
        try front.ok(.contextCreate(contextInit: 0, debugName: []), context: 1)
        let before = try #require(front.gpu.model)
        #expect(try front.acked(.resetOwner) == 0)
        #expect(before.counts.contexts == 0)
        #expect(front.gpu.model !== before && front.gpu.model != nil)
        #expect(try front.acked(.setVringKick, le64(0), fds: [try front.queues[0].kick.descriptor.duplicate()]) != 0)
        #expect(front.session.refused.last?.description.contains("before its size and addresses") == true)
    }

    // MARK: helpers

    /// A buffer resource of guest pages, attached to `context`; returns its guest address.
    func createResource(_ front: TestFrontEnd, id: UInt32, pages: Int = 1, context: UInt32) throws -> Int {
        let address = front.allocate(pages: pages)
        try front.ok(.resourceCreate3D(.buffer(id: id, size: UInt32(pages * Self.page))))
        try front.ok(.resourceAttachBacking(resourceId: id, entries: [.init(address: UInt64(address), length: UInt32(pages * Self.page))]))
        try front.ok(.contextAttachResource(resourceId: id), context: context)
        return address
    }

    func submit(_ front: TestFrontEnd, _ commands: [VirtioContextCommand]) throws {
        try front.ok(.submit3D(commands: try VirtioContextCommand.payload(commands)), context: 1)
    }

    func reply(_ resource: UInt32, offset: UInt32 = 0) -> GuestReplyArea { GuestReplyArea(resourceId: resource, offset: offset, length: 512) }
}
