import Dispatch
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtioHost
import MagmaWire
import SoftGPU
import Testing

/// Two device models in one process (two VMs) on one host device, driven from threads at once:
/// they share no state (run under the thread sanitizer too).
@Suite("Two device models side by side", .hangGuard)
struct ConcurrentGuestsTests {
    @Test func twoGuestsSubmitAtOnceAndEachSeesOnlyItsOwnWork() throws {
        let device = try VirtioGuest.device()
        let models = Locked<[VirtioDeviceModel]>([])
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            do {
                let guest = try VirtioGuest(device: device)
                models.withLock { $0.append(guest.model) }
                let page = VirtioGuest.page
                try guest.createContext(1)
                try guest.createResource(1, guestPage: 1, context: 1)
                try guest.createResource(2, guestPage: 2, context: 1)
                try guest.createResource(3, guestPage: 3, pages: 2, context: 1)
                let pattern = UInt32(0xAB00_0000) | UInt32(index)
                var stream = CommandStream()
                stream.fill(address: 0x40_0000, size: UInt64(2 * page), pattern: pattern)
                stream.end()
                guest.bytes[(2 * page)..<(2 * page + stream.bytes.count)].copyBytes(from: stream.bytes)
                _ = try guest.submit([
                    .virtio(.createBuffer(.init(resourceId: 2, memoryType: 0, bufferId: 1, reply: area(1)))),
                    .virtio(.createBuffer(.init(resourceId: 3, memoryType: 0, bufferId: 2, reply: area(1, offset: 512)))),
                    .primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0))),
                    .primary(.mapBuffer(.init(gpuAddress: 0x40_0000, range: BufferRange(bufferId: 2, offset: 0, length: UInt64(2 * page)), flags: [.read, .write]))),
                ], context: 1)
                for round in 0..<20 {
                    let fence = try guest.submit([
                        .primary(.executeCommand(.init(contextId: 1, resources: [BufferRange(bufferId: 1, offset: 0, length: UInt64(stream.bytes.count))],
                                                       commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: [],
                                                       signalSemaphores: [], flags: 0, waitTimelinePoints: [], signalTimelinePoints: []))),
                    ], context: 1, fenced: true, ring: UInt8(round % 4))
                    guard completes(fence) else { throw MagmaError(.timedOut, "round \(round)") }
                }
                let words = UnsafeRawBufferPointer(rebasing: guest.bytes[(3 * page)..<(5 * page)])
                guard (0..<(2 * page / 4)).allSatisfy({ words.load(fromByteOffset: $0 * 4, as: UInt32.self) == pattern }) else {
                    throw MagmaError.internalError("guest \(index) sees another pattern")
                }
            } catch {
                failures.withLock { $0.append("guest \(index): \(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let both = models.withLock { $0 }
        #expect(both.count == 2)
        for model in both { model.close() }
        #expect(both.allSatisfy { $0.counts.contexts == 0 && $0.counts.pendingFences == 0 })
    }
}
