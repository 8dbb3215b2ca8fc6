import Foundation
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtio
import MagmaVirtioHost
import MagmaWire
import SoftGPU
import Testing

@Suite("The guest's virtgpu surface over the socket emulation, end to end", .hangGuard)
struct VirtGPUSocketDeviceTests {
    static let page = SharedMemory.pageSize

    private func server() throws -> VirtioSocketServer {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-virtgpu-\(UUID().uuidString.prefix(8))").path
        let server = try VirtioSocketServer(path: path, device: try VirtioGuest.device())
        try server.start()
        return server
    }

    @Test func parametersCapsetAndContextAreWhatAGuestDriverChecks() throws {
        let server = try server()
        defer { server.stop() }
        let device = try VirtGPUSocketDevice(path: server.path, memoryBytes: 1 << 20)
        #expect(try device.parameter(.contextInit) == 1)
        #expect(try device.parameter(.resourceBlob) == 0)
        #expect(try device.parameter(.supportedCapsetIds) == 1 << 7)
        let capset = try VirtioMagmaCapset(decoding: try device.capset(id: 7, version: 1))
        #expect(capset.devices.first?.name == (try VirtioGuest.device().physicalDeviceInfo().name))
        #expect(throws: MagmaError.self) { _ = try device.capset(id: 3, version: 1) }
        #expect(throws: MagmaError.self) { _ = try device.createResource(size: 4096) }   // before CONTEXT_INIT
        try device.initializeContext(capsetId: 7, ringCount: 4)
        #expect(throws: MagmaError.self) { try device.initializeContext(capsetId: 7, ringCount: 4) }
        #expect(throws: MagmaError.self) { _ = try device.submit([], fenceOnRing: 4) }
        device.close()
        #expect(throws: MagmaError(.connectionLost)) { _ = try device.parameter(.supportedCapsetIds) }
    }

    @Test func resourcesComeFromGuestRAMAndGoBack() throws {
        let server = try server()
        defer { server.stop() }
        let device = try VirtGPUSocketDevice(path: server.path, memoryBytes: 8 * Self.page)
        try device.initializeContext(capsetId: 7, ringCount: 1)
        let a = try device.createResource(size: 3 * Self.page)
        let b = try device.createResource(size: 100)
        #expect(a.size == 3 * Self.page && b.size == Self.page && a.resourceId != b.resourceId)
        #expect(device.freePages == 4)
        #expect(throws: MagmaError(.memoryError)) { _ = try device.createResource(size: 5 * Self.page) }
        try device.release(a)
        #expect(throws: MagmaError.self) { try device.release(a) }
        #expect(device.freePages == 7)
        #expect(throws: MagmaError(.memoryError)) { _ = try device.createResource(size: 5 * Self.page) }   // pages 3 is b's
        try device.release(b)
        #expect(device.freePages == 8)   // the runs coalesce again
        #expect(try device.createResource(size: 8 * Self.page).size == 8 * Self.page)
    }

    @Test func aHostThatNeverAnswersIsATimeoutNotAHang() throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-virtgpu-mute-\(UUID().uuidString.prefix(8))").path
        let listener = try MessageSocket.listen(path: path, permissions: 0o600)
        defer { unlink(path) }
        // The listener's backlog accepts the connection; nobody ever reads or answers. Opening
        // sends nothing (a guest's memory is shared a resource at a time); the first command
        // times out, and the guest is unusable from then on.
        let device = try VirtGPUSocketDevice(path: path, memoryBytes: 1 << 20, callTimeoutNanoseconds: 200_000_000)
        #expect(throws: MagmaError(.timedOut)) { try device.initializeContext(capsetId: 7, ringCount: 1) }
        #expect(throws: MagmaError(.connectionLost)) { _ = try device.capset(id: 7, version: 1) }
        #expect(!device.guest.isUsable)
        withExtendedLifetime(listener) {}
    }

    /// The whole slice: a guest process's commands, through the socket, run on the host's
    /// SoftGPU in the guest's own pages; the fence's eventfd says when.
    @Test func aGuestFillsItsBufferOnTheHostGPU() throws {
        let server = try server()
        defer { server.stop() }
        let device = try VirtGPUSocketDevice(path: server.path, memoryBytes: 1 << 20)
        try device.initializeContext(capsetId: 7, ringCount: 2)
        let replies = try device.createResource(size: Self.page)
        let commands = try device.createResource(size: Self.page)
        let target = try device.createResource(size: 4 * Self.page)
        var stream = CommandStream()
        stream.fill(address: 0x20_0000, size: UInt64(target.size), pattern: 0x5151_7A7A)
        stream.end()
        commands.mapping.copyBytes(from: stream.bytes)
        let reply = { (offset: UInt32) in GuestReplyArea(resourceId: replies.resourceId, offset: offset, length: 512) }
        let payload = try VirtioContextCommand.payload([
            .virtio(.createBuffer(.init(resourceId: commands.resourceId, memoryType: 0, bufferId: 1, reply: reply(0)))),
            .virtio(.createBuffer(.init(resourceId: target.resourceId, memoryType: 0, bufferId: 2, reply: reply(512)))),
            .primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: 0x20_0000, range: BufferRange(bufferId: 2, offset: 0, length: UInt64(target.size)), flags: [.read, .write]))),
            .primary(.executeCommand(.init(contextId: 1, resources: [BufferRange(bufferId: 1, offset: 0, length: UInt64(stream.bytes.count))],
                                           commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: [],
                                           signalSemaphores: [], flags: 0, waitTimelinePoints: [], signalTimelinePoints: []))),
        ])
        let fence = try #require(try device.submit(payload, fenceOnRing: 1))
        #expect(device.wait(fence, timeoutNanoseconds: 20_000_000_000))
        for offset in [0, 512] {
            let length = Int(replies.mapping.load(fromByteOffset: offset, as: UInt32.self).littleEndian)
            let message = try VirtioContextProtocol.ServerMessage.decode(bytes: Array(replies.mapping[offset..<(offset + length)])).message
            #expect(message == .statusReply(.init(status: .ok, reason: "")))
        }
        #expect((0..<(target.size / 4)).allSatisfy { target.mapping.load(fromByteOffset: $0 * 4, as: UInt32.self) == 0x5151_7A7A })
    }
}
