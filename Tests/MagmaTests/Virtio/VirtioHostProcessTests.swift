import Foundation
import Magma
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaVirtio
import MagmaWire
import SoftGPU
import Testing

/// `magma-virtio-host` as a process: a guest (this test, through `VirtGPUSocketDevice`) runs
/// GPU work on the child's SoftGPU in its own pages, and the child stops cleanly on SIGTERM.
@Suite("magma-virtio-host serves guests from a process of its own", .hangGuard, .serialized)
struct VirtioHostProcessTests {
    @Test func aGuestRunsWorkThroughTheDaemonAndItStopsOnSIGTERM() throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-virtio-host-\(UUID().uuidString.prefix(8))").path
        let host = try ToolProcess("magma-virtio-host", ["--socket", path])
        try host.waitForFile(path)
        let page = SharedMemory.pageSize
        let device = try VirtGPUSocketDevice(path: path, memoryBytes: 1 << 20)
        #expect(try device.parameter(.supportedCapsetIds) == 1 << 7)
        try device.initializeContext(capsetId: 7, ringCount: 1)
        let replies = try device.createResource(size: page)
        let commands = try device.createResource(size: page)
        let target = try device.createResource(size: page)
        var stream = CommandStream()
        stream.fill(address: 0x10_0000, size: UInt64(page), pattern: 0x600D_F00D)
        stream.end()
        commands.mapping.copyBytes(from: stream.bytes)
        let payload = try VirtioContextCommand.payload([
            .virtio(.createBuffer(.init(resourceId: commands.resourceId, memoryType: 0, bufferId: 1, reply: .init(resourceId: replies.resourceId, offset: 0, length: 512)))),
            .virtio(.createBuffer(.init(resourceId: target.resourceId, memoryType: 0, bufferId: 2, reply: .init(resourceId: replies.resourceId, offset: 512, length: 512)))),
            .primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: 0x10_0000, range: BufferRange(bufferId: 2, offset: 0, length: UInt64(page)), flags: [.read, .write]))),
            .primary(.executeCommand(.init(contextId: 1, resources: [BufferRange(bufferId: 1, offset: 0, length: UInt64(stream.bytes.count))],
                                           commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: [],
                                           signalSemaphores: [], flags: 0, waitTimelinePoints: [], signalTimelinePoints: []))),
        ])
        let fence = try #require(try device.submit(payload, fenceOnRing: 0))
        #expect(device.wait(fence, timeoutNanoseconds: 30_000_000_000))
        #expect((0..<(page / 4)).allSatisfy { target.mapping.load(fromByteOffset: $0 * 4, as: UInt32.self) == 0x600D_F00D })
        device.close()
        kill(host.process.processIdentifier, SIGTERM)
        let outcome = host.finish()
        #expect(outcome.status == 0 && !outcome.timedOut, "\(outcome.output)")
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// Two processes, neither of them the test: magmactl's demo as the guest, through the
    /// virtio backend, and the daemon as the host.
    @Test func magmactlsDemoRunsAsAGuestOfTheDaemon() throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-virtio-host-\(UUID().uuidString.prefix(8))").path
        let host = try ToolProcess("magma-virtio-host", ["--socket", path])
        try host.waitForFile(path)
        let demo = try ToolProcess.run("magmactl", ["demo", "--device", "virtio:" + path], timeoutSeconds: 300)
        #expect(demo.status == 0 && !demo.timedOut, "\(demo.output)")
        #expect(demo.output.contains("virtio-gpu device model at \(path)"))
        #expect(demo.output.contains("verified     all 1048576 sums and the copy match the CPU"))
        kill(host.process.processIdentifier, SIGTERM)
        #expect(host.finish().status == 0)
    }

    /// A host killed outright completes no fence: the guest learns from its socket's hang-up,
    /// and a CPU wait ends with CONNECTION_LOST.
    @Test func aKilledHostEndsTheGuestsWaits() throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-virtio-host-\(UUID().uuidString.prefix(8))").path
        let host = try ToolProcess("magma-virtio-host", ["--socket", path])
        try host.waitForFile(path)
        let connection = try Device.open(.virtio(path)).createConnection()
        let semaphore = try connection.createSemaphore()
        try connection.flush()
        kill(host.process.processIdentifier, SIGKILL)
        _ = host.finish()
        #expect(throws: MagmaError(.connectionLost)) { try SyncWait.all([.semaphore(semaphore)], timeoutNanoseconds: 60_000_000_000) }
        #expect(connection.error?.status == .connectionLost)
        unlink(path)
    }
}
