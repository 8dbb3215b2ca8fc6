import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtioHost
import MagmaWire
import SoftGPU
import Testing

@Suite("GPU work of a guest runs on the host in the guest's own pages", .hangGuard)
struct GuestWorkTests {
    static let page = VirtioGuest.page

    /// A guest sets up a command buffer and a target of two scattered pages, then fills the
    /// target on the GPU; the fence completes when the fill has, and the guest reads it in its RAM.
    @Test func aFencedFillLandsInTheGuestsScatteredPages() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createResource(1, guestPage: 1, context: 1)           // replies
        try guest.createResource(2, guestPage: 2, context: 1)           // commands
        try guest.ok(.resourceCreate3D(.buffer(id: 3, size: UInt32(2 * Self.page))))
        try guest.ok(.resourceAttachBacking(resourceId: 3, entries: [    // target: pages 9 then 5
            .init(address: UInt64(9 * Self.page), length: UInt32(Self.page)), .init(address: UInt64(5 * Self.page), length: UInt32(Self.page)),
        ]))
        try guest.ok(.contextAttachResource(resourceId: 3), context: 1)
        let address: UInt64 = 0x10_0000
        var stream = CommandStream()
        stream.fill(address: address, size: UInt64(2 * Self.page), pattern: 0xC0DE_0001)
        stream.end()
        guest.bytes[(2 * Self.page)..<(2 * Self.page + stream.bytes.count)].copyBytes(from: stream.bytes)

        let fence = try guest.submit([
            .virtio(.createBuffer(.init(resourceId: 2, memoryType: 0, bufferId: 20, reply: area(1)))),
            .virtio(.createBuffer(.init(resourceId: 3, memoryType: 0, bufferId: 30, reply: area(1, offset: 512)))),
            .primary(.createContext(.init(contextId: 7, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: address, range: BufferRange(bufferId: 30, offset: 0, length: UInt64(2 * Self.page)),
                                      flags: [.read, .write]))),
            .primary(.executeCommand(.init(contextId: 7, resources: [BufferRange(bufferId: 20, offset: 0, length: UInt64(stream.bytes.count))],
                                           commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: [],
                                           signalSemaphores: [], flags: 0, waitTimelinePoints: [], signalTimelinePoints: []))),
        ], context: 1, fenced: true, ring: 0)
        #expect(completes(fence))
        #expect(try guest.status(guestPage: 1) == .ok)
        #expect(try guest.status(guestPage: 1, offset: 512) == .ok)
        for page in [9, 5] {
            let words = UnsafeRawBufferPointer(rebasing: guest.bytes[(page * Self.page)..<((page + 1) * Self.page)])
            #expect((0..<(Self.page / 4)).allSatisfy { words.load(fromByteOffset: $0 * 4, as: UInt32.self) == 0xC0DE_0001 })
        }
        #expect(guest.bytes[4 * Self.page] == 0 && guest.bytes[6 * Self.page] == 0)   // neighbours untouched
    }

    @Test func createBufferRefusalsAreRepliedAndLeaveTheContextUsable() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createResource(1, guestPage: 1, context: 1)
        try guest.createResource(2, guestPage: 2, context: 1)
        try guest.ok(.resourceCreate3D(.buffer(id: 3, size: UInt32(Self.page))))   // no backing
        try guest.ok(.contextAttachResource(resourceId: 3), context: 1)
        let fence = try guest.submit([
            .virtio(.createBuffer(.init(resourceId: 2, memoryType: 99, bufferId: 20, reply: area(1)))),
            .virtio(.createBuffer(.init(resourceId: 3, memoryType: 0, bufferId: 21, reply: area(1, offset: 512)))),
            .virtio(.createBuffer(.init(resourceId: 2, memoryType: 0, bufferId: 22, reply: area(1, offset: 1024)))),
            .virtio(.flush(.init(reply: area(1, offset: 1536)))),
        ], context: 1, fenced: true, ring: 0)
        #expect(completes(fence))
        #expect(try guest.status(guestPage: 1) == .invalidArgs)
        #expect(try guest.status(guestPage: 1, offset: 512) == .invalidArgs)
        #expect(try guest.status(guestPage: 1, offset: 1024) == .ok)
        #expect(try guest.status(guestPage: 1, offset: 1536) == .ok)
    }

    /// Work that faults fails the context: its fence completes, and a failure watch sees
    /// CONTEXT_KILLED, as a local client would.
    @Test func aGPUFaultCompletesTheFenceAndReachesTheWatcher() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createResource(1, guestPage: 1, context: 1)
        try guest.createResource(2, guestPage: 2, context: 1)
        var stream = CommandStream()
        stream.fill(address: 0x7000_0000, size: 4096, pattern: 1)   // nothing is mapped there
        stream.end()
        guest.bytes[(2 * Self.page)..<(2 * Self.page + stream.bytes.count)].copyBytes(from: stream.bytes)
        let watch = try guest.submit([.virtio(.watchFailure(.init(reply: area(1, offset: 512))))], context: 1, fenced: true, ring: 1)
        let fence = try guest.submit([
            .virtio(.createBuffer(.init(resourceId: 2, memoryType: 0, bufferId: 20, reply: area(1)))),
            .primary(.createContext(.init(contextId: 7, priority: .medium, queueFamily: 0))),
            .primary(.executeCommand(.init(contextId: 7, resources: [BufferRange(bufferId: 20, offset: 0, length: UInt64(stream.bytes.count))],
                                           commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: [],
                                           signalSemaphores: [], flags: 0, waitTimelinePoints: [], signalTimelinePoints: []))),
        ], context: 1, fenced: true, ring: 0)
        #expect(completes(fence))
        #expect(completes(watch))
        #expect(try guest.status(guestPage: 1, offset: 512) == .contextKilled)
    }
}
