import Glibc
import Magma
import MagmaDRM
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtio
import MagmaWire
import SoftGPU
import Testing

/// `VirtGPUKernelDevice` on a real guest kernel's virtio_gpu, whose device is QEMU's
/// vhost-user-gpu-pci on `magma-vhost-user-gpu` (the Magma capset, the host's SoftGPU):
/// `scripts/vm/vhost-user-gpu-probe.sh --swift-tests VirtGPUKernelDeviceTests` sets
/// MAGMA_TEST_VIRTGPU_MAGMA=1 there. Anywhere else (the host, the CI guest's QEMU virtio-gpu
/// without capset 7) the suite is skipped, and says so.
/// Whether this guest's virtio_gpu is the Magma device (the probe script says so).
enum VirtGPUMagmaGuest {
    static let enabled = getenv("MAGMA_TEST_VIRTGPU_MAGMA").map { String(cString: $0) == "1" } ?? false
}

@Suite(.hangGuard, .enabled(if: VirtGPUMagmaGuest.enabled, "needs a guest whose virtio_gpu serves Magma: scripts/vm/vhost-user-gpu-probe.sh --swift-tests VirtGPUKernelDeviceTests"))
struct VirtGPUKernelDeviceTests {
    static let second: UInt64 = 1_000_000_000

    func open() throws -> VirtGPUKernelDevice {
        let node = try DRMTestEnvironment.device(driver: "virtio_gpu").renderNodePath
        return try VirtGPUKernelDevice(renderNode: node)
    }

    func reply(_ resource: any VirtGPUResource, offset: UInt32 = 0) -> GuestReplyArea {
        GuestReplyArea(resourceId: resource.resourceId, offset: offset, length: 512)
    }

    /// The status a reply area holds (nil while the host has written none).
    func status(_ resource: any VirtGPUResource, offset: Int = 0) throws -> MagmaStatus? {
        let length = Int(resource.mapping.load(fromByteOffset: offset, as: UInt32.self).littleEndian)
        guard length > 0 else { return nil }
        let message = try VirtioContextProtocol.ServerMessage.decode(bytes: Array(resource.mapping[offset..<(offset + length)])).message
        guard case .statusReply(let reply) = message else { Issue.record("\(message)"); return nil }
        return reply.status
    }

    /// Enumeration lists the node's Magma device by its `virtgpu:` name, before the DRM names
    /// (so a program taking the first device, as examples/mesa_fill.c does, gets it), and the
    /// name opens a device whose connections run on the kernel's one fence timeline.
    @Test func theMagmaDeviceIsEnumeratedByItsVirtgpuName() throws {
        let node = try DRMTestEnvironment.device(driver: "virtio_gpu").renderNodePath
        let names = DeviceLocator.availableNames()
        let name = DeviceLocator.virtgpuPrefix + node
        let index = try #require(names.firstIndex(of: name), "\(names)")
        #expect(names[..<index].allSatisfy { !$0.hasPrefix("drm/") })
        let connection = try Device.open(.named(name)).createConnection()
        try connection.flush()
    }

    @Test func theParametersAndTheMagmaCapsetComeThroughTheKernel() throws {
        let device = try open()
        #expect(try device.parameter(.features3D) == 1)
        #expect(try device.parameter(.capsetQueryFix) == 1)
        #expect(try device.parameter(.supportedCapsetIds) & (1 << UInt64(VirtioGPU.magmaCapsetId)) != 0)
        print("virtio_gpu: CONTEXT_INIT \(try device.parameter(.contextInit)), RESOURCE_BLOB \(try device.parameter(.resourceBlob))")
        let capset = try VirtioMagmaCapset(decoding: try device.capset(id: VirtioGPU.magmaCapsetId, version: VirtioMagmaCapset.version))
        #expect(capset.devices.count == 1)
        #expect(throws: MagmaError.self) { try device.capset(id: 1, version: 1) }   // no virgl capset
    }

    /// A fill on the host's SoftGPU through EXECBUFFER: the fence fd polls readable only once the
    /// host has answered both buffer creations and the fill has landed in the guest's pages.
    @Test func aFencedFillLandsInTheResourcesPagesThroughTheKernel() throws {
        let device = try open()
        try device.initializeContext(capsetId: VirtioGPU.magmaCapsetId, ringCount: 1)
        let replies = try device.createResource(size: 4096)
        let commands = try device.createResource(size: 4096)
        let target = try device.createResource(size: 2 * 4096)
        let address: UInt64 = 0x10_0000
        var stream = CommandStream()
        stream.fill(address: address, size: 2 * 4096, pattern: 0xFEED_0018)
        stream.end()
        UnsafeMutableRawBufferPointer(rebasing: commands.mapping[0..<stream.bytes.count]).copyBytes(from: stream.bytes)
        let payload = try VirtioContextCommand.payload([
            .virtio(.createBuffer(.init(resourceId: commands.resourceId, memoryType: 0, bufferId: 20, reply: reply(replies)))),
            .virtio(.createBuffer(.init(resourceId: target.resourceId, memoryType: 0, bufferId: 30, reply: reply(replies, offset: 512)))),
            .primary(.createContext(.init(contextId: 7, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: address, range: BufferRange(bufferId: 30, offset: 0, length: 2 * 4096), flags: [.read, .write]))),
            .primary(.executeCommand(.init(contextId: 7, resources: [BufferRange(bufferId: 20, offset: 0, length: UInt64(stream.bytes.count))],
                                           commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: [],
                                           signalSemaphores: [], flags: 0, waitTimelinePoints: [], signalTimelinePoints: []))),
            .virtio(.flush(.init(reply: reply(replies, offset: 1024)))),
        ])
        let fence = try #require(try device.submit(payload, fenceOnRing: 0))
        #expect(device.wait(fence, timeoutNanoseconds: 60 * Self.second))
        #expect(try status(replies) == .ok)
        #expect(try status(replies, offset: 512) == .ok)
        #expect(try status(replies, offset: 1024) == .ok)
        #expect((0..<(2 * 4096 / 4)).allSatisfy { target.mapping.load(fromByteOffset: $0 * 4, as: UInt32.self) == 0xFEED_0018 })
        for resource in [target, commands, replies] { try device.release(resource) }
        #expect(throws: MagmaError.self) { try device.release(target) }
    }

    /// The figure for docs/vhost-user.md: a fenced call (flush) through EXECBUFFER, the kernel,
    /// QEMU's vhost-user-gpu and the back-end, waited on its sync_file; each reply checked.
    /// `VhostUserGPUTests.aFencedCallsRoundTripFigure` is the same call from the host.
    @Test func aFencedCallsRoundTripFigure() throws {
        let device = try open()
        try device.initializeContext(capsetId: VirtioGPU.magmaCapsetId, ringCount: 1)
        let replies = try device.createResource(size: 4096)
        let payload = try VirtioContextCommand.payload([.virtio(.flush(.init(reply: reply(replies))))])
        let rounds = 200
        let clock = ContinuousClock()
        let start = clock.now
        for round in 0..<rounds {
            replies.mapping.storeBytes(of: 0, as: UInt32.self)
            let fence = try #require(try device.submit(payload, fenceOnRing: 0))
            #expect(device.wait(fence, timeoutNanoseconds: 60 * Self.second), "round \(round)")
            #expect(try status(replies) == .ok, "round \(round)")
        }
        let elapsed = clock.now - start
        let microseconds = Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
        print("guest (kernel, QEMU vhost-user-gpu, TCG): fenced flush round trip \(Int(microseconds / Double(rounds))) us (\(rounds) rounds)")
    }

    /// The message a reply area holds (nil while the host has written none).
    func message(_ resource: any VirtGPUResource, offset: Int = 0) throws -> VirtioContextProtocol.ServerMessage? {
        let length = Int(resource.mapping.load(fromByteOffset: offset, as: UInt32.self).littleEndian)
        guard length > 0 else { return nil }
        return try VirtioContextProtocol.ServerMessage.decode(bytes: Array(resource.mapping[offset..<(offset + length)])).message
    }

    /// The figure for docs/vhost-user.md beside `VhostUserGPUTests.aFencedFillThroughputFigure`
    /// (the same from the host): fenced EXECBUFFERs of one SoftGPU fill each, of 64 KiB and of
    /// 4 MiB, waited on their sync_files; each round's pattern checked at both ends of the range.
    @Test func aFencedFillThroughputFigure() throws {
        let device = try open()
        try device.initializeContext(capsetId: VirtioGPU.magmaCapsetId, ringCount: 1)
        let replies = try device.createResource(size: 4096)
        let commands = try device.createResource(size: 4096)
        let target = try device.createResource(size: 4 << 20)
        let address: UInt64 = 0x10_0000
        let setUp = try #require(try device.submit(try VirtioContextCommand.payload([
            .virtio(.createBuffer(.init(resourceId: commands.resourceId, memoryType: 0, bufferId: 20, reply: reply(replies)))),
            .virtio(.createBuffer(.init(resourceId: target.resourceId, memoryType: 0, bufferId: 30, reply: reply(replies, offset: 512)))),
            .primary(.createContext(.init(contextId: 7, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: address, range: BufferRange(bufferId: 30, offset: 0, length: 4 << 20), flags: [.read, .write]))),
            .virtio(.flush(.init(reply: reply(replies, offset: 1024)))),
        ]), fenceOnRing: 0))
        #expect(device.wait(setUp, timeoutNanoseconds: 60 * Self.second))
        #expect(try status(replies, offset: 1024) == .ok)
        for (size, rounds) in [(64 << 10, 200), (4 << 20, 20)] {
            let clock = ContinuousClock()
            let start = clock.now
            for round in 0..<rounds {
                var stream = CommandStream()
                stream.fill(address: address, size: UInt64(size), pattern: UInt32(round + 1))
                stream.end()
                UnsafeMutableRawBufferPointer(rebasing: commands.mapping[0..<stream.bytes.count]).copyBytes(from: stream.bytes)
                let fence = try #require(try device.submit(try VirtioContextCommand.payload([.primary(.executeCommand(.init(
                    contextId: 7, resources: [BufferRange(bufferId: 20, offset: 0, length: UInt64(stream.bytes.count))],
                    commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: [],
                    signalSemaphores: [], flags: 0, waitTimelinePoints: [], signalTimelinePoints: [])))]), fenceOnRing: 0))
                #expect(device.wait(fence, timeoutNanoseconds: 60 * Self.second), "round \(round)")
                #expect([0, size - 4].allSatisfy { target.mapping.load(fromByteOffset: $0, as: UInt32.self) == UInt32(round + 1) }, "round \(round)")
            }
            let seconds = Double((clock.now - start).components.attoseconds) / 1e18 + Double((clock.now - start).components.seconds)
            print("guest (kernel, QEMU vhost-user-gpu, TCG): fenced fill of \(size >> 10) KiB: \(Int(seconds * 1e6 / Double(rounds))) us a submission, \(Int(Double(size * rounds) / seconds / 1_048_576)) MiB/s (\(rounds) rounds)")
        }
        device.close()
    }

    /// Syncobjs on EXECBUFFER (6.12): an out-syncobj signals when the host completes the fenced
    /// command, not earlier (here its GPU work waits for a host semaphore); an EXECBUFFER waiting
    /// for that syncobj (a fence of the device's own timeline, whose order the kernel leaves to
    /// the device) completes after it, its copy seeing the fill; a syncobj with no fence cannot be
    /// waited for (EINVAL).
    @Test func syncobjsOnExecbufferFollowTheHostsCompletion() throws {
        let device = try open()
        try device.initializeContext(capsetId: VirtioGPU.magmaCapsetId, ringCount: 1)
        let replies = try device.createResource(size: 4096)
        let fillCommands = try device.createResource(size: 4096)
        let copyCommands = try device.createResource(size: 4096)
        let target = try device.createResource(size: 64 << 10)
        let copy = try device.createResource(size: 64 << 10)
        let address: UInt64 = 0x10_0000
        for (resource, build) in [(fillCommands, { (s: inout CommandStream) in s.fill(address: address, size: 64 << 10, pattern: 0x5EED_0018) }),
                                  (copyCommands, { (s: inout CommandStream) in s.copy(from: address, to: 2 * address, size: 64 << 10) })] {
            var stream = CommandStream()
            build(&stream)
            stream.end()
            UnsafeMutableRawBufferPointer(rebasing: resource.mapping[0..<stream.bytes.count]).copyBytes(from: stream.bytes)
        }
        func execute(_ buffer: UInt64, waitingFor semaphores: [UInt64] = []) -> VirtioContextCommand {
            .primary(.executeCommand(.init(contextId: 7, resources: [BufferRange(bufferId: buffer, offset: 0, length: 4096)],
                                           commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: semaphores,
                                           signalSemaphores: [], flags: 0, waitTimelinePoints: [], signalTimelinePoints: [])))
        }
        let setUp = try #require(try device.submit(try VirtioContextCommand.payload([
            .virtio(.createBuffer(.init(resourceId: fillCommands.resourceId, memoryType: 0, bufferId: 20, reply: reply(replies)))),
            .virtio(.createBuffer(.init(resourceId: copyCommands.resourceId, memoryType: 0, bufferId: 21, reply: reply(replies, offset: 512)))),
            .virtio(.createBuffer(.init(resourceId: target.resourceId, memoryType: 0, bufferId: 30, reply: reply(replies, offset: 1024)))),
            .virtio(.createBuffer(.init(resourceId: copy.resourceId, memoryType: 0, bufferId: 31, reply: reply(replies, offset: 1536)))),
            .virtio(.createSemaphore(.init(semaphoreId: 5))),
            .primary(.createContext(.init(contextId: 7, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: address, range: BufferRange(bufferId: 30, offset: 0, length: 64 << 10), flags: [.read, .write]))),
            .primary(.mapBuffer(.init(gpuAddress: 2 * address, range: BufferRange(bufferId: 31, offset: 0, length: 64 << 10), flags: [.read, .write]))),
            .virtio(.flush(.init(reply: reply(replies, offset: 2048)))),
        ]), fenceOnRing: 0))
        #expect(device.wait(setUp, timeoutNanoseconds: 60 * Self.second))
        #expect(try (0..<5).map { try status(replies, offset: $0 * 512) } == [.ok, .ok, .ok, .ok, .ok])

        let filled = try device.createSyncobj()
        let fill = try device.submit(try VirtioContextCommand.payload([execute(20, waitingFor: [5])]), fenceOnRing: 0,
                                     waitingFor: [], signaling: [.init(handle: filled)])
        #expect(!device.waitSyncobjs([filled], timeoutNanoseconds: Self.second / 5), "the fill waits for semaphore 5, and so does its syncobj")

        // A copy that waits for `filled`: its fence is on this device's own timeline (no
        // CONTEXT_INIT), which the kernel leaves to the device's order instead of waiting in the
        // ioctl; the host keeps that order, so the copy still runs after the fill.
        let copyPayload = try VirtioContextCommand.payload([execute(21)])
        let copyFence = try device.submit(copyPayload, fenceOnRing: 0, waitingFor: [.init(handle: filled)], signaling: [])
        #expect(!device.wait(copyFence, timeoutNanoseconds: Self.second / 5), "the copy's fence follows the fill's")
        _ = try device.submit(try VirtioContextCommand.payload([.virtio(.signalSemaphore(.init(semaphoreId: 5)))]), fenceOnRing: nil)
        #expect(device.waitSyncobjs([filled], timeoutNanoseconds: 60 * Self.second))
        #expect(device.wait(fill, timeoutNanoseconds: 60 * Self.second), "the fill's sync_file signals with its syncobj")
        #expect(device.wait(copyFence, timeoutNanoseconds: 60 * Self.second))
        #expect((0..<(16 << 10)).allSatisfy { copy.mapping.load(fromByteOffset: $0 * 4, as: UInt32.self) == 0x5EED_0018 }, "the copy ran after the fill")

        let empty = try device.createSyncobj()
        #expect(throws: MagmaError.self, "a syncobj with no fence") {
            try device.submit(copyPayload, fenceOnRing: 0, waitingFor: [.init(handle: empty)], signaling: [])
        }
        for handle in [filled, empty] { try device.destroySyncobj(handle) }
        device.close()
    }

    /// Without CONTEXT_INIT (QEMU's vhost-user-gpu does not pass it through) every fence is on
    /// the kernel's one timeline, and the kernel signals every earlier fence when a later one
    /// completes. Measured before issue 18: a wait the host held held every later fence too. Now
    /// the host preempts it: the later call's fence completes at once, the wait's with
    /// `preempted_reply`; submitted again, the wait is pending again and ends with its outcome
    /// (what `VirtioConnection`'s watcher does on this device).
    @Test func withoutContextInitALaterFencePreemptsAPendingWait() throws {
        let device = try open()
        guard !device.offersContextInit else { print("the device offers CONTEXT_INIT: nothing to show"); return }
        #expect(throws: MagmaError.self) { try device.initializeContext(capsetId: VirtioGPU.magmaCapsetId, ringCount: 2) }
        try device.initializeContext(capsetId: VirtioGPU.magmaCapsetId, ringCount: 1)
        let replies = try device.createResource(size: 4096)
        let buffer = try device.createResource(size: 4096)
        _ = try device.submit(try VirtioContextCommand.payload([.virtio(.createSemaphore(.init(semaphoreId: 5)))]), fenceOnRing: nil)
        let wait = try VirtioContextCommand.payload([.virtio(.waitSemaphores(.init(semaphoreIds: [5], waitAll: true, reply: reply(replies))))])
        let pending = try #require(try device.submit(wait, fenceOnRing: 0))
        let later = try #require(try device.submit(try VirtioContextCommand.payload([
            .virtio(.createBuffer(.init(resourceId: buffer.resourceId, memoryType: 0, bufferId: 6, reply: reply(replies, offset: 512)))),
        ]), fenceOnRing: 0))
        #expect(device.wait(later, timeoutNanoseconds: 60 * Self.second), "the later call is not held")
        #expect(try status(replies, offset: 512) == .ok)
        #expect(device.wait(pending, timeoutNanoseconds: 60 * Self.second))
        #expect(try message(replies) == .preemptedReply(.init()), "nothing signaled it: it was preempted")
        // Submitted again (as often as another open's fence, such as this suite's other tests',
        // preempts it, bounded), it ends with its outcome once the semaphore is signaled.
        _ = try device.submit(try VirtioContextCommand.payload([.virtio(.signalSemaphore(.init(semaphoreId: 5)))]), fenceOnRing: nil)
        var outcome: VirtioContextProtocol.ServerMessage?
        for _ in 0..<1000 {
            UnsafeMutableRawBufferPointer(rebasing: replies.mapping[0..<512]).initializeMemory(as: UInt8.self, repeating: 0)
            let again = try #require(try device.submit(wait, fenceOnRing: 0))
            #expect(device.wait(again, timeoutNanoseconds: 60 * Self.second))
            outcome = try message(replies)
            if outcome != .preemptedReply(.init()) { break }
        }
        #expect(try status(replies) == .ok, "\(String(describing: outcome))")
        device.close()
        #expect(throws: MagmaError.self) { try device.release(buffer) }   // close released it
    }
}
