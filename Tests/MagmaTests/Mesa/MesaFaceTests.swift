import Foundation
@testable import Magma
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// The Mesa face end to end on every backend, in the order of Mesa's own FFI test:
/// enumerate, info, device, address space, queue, a command buffer mapped RWX, binary sync
/// objects, a submit with a wait and a signal, export and import of a fence and a buffer, a
/// submit waiting on the imported fence, 20 submits.
@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct MesaFaceTests {
    let devices = MesaTestDevices()

    @Test(.drmBackend(.runs), arguments: TestBackend.virtioCases) func enumerationFindsTheDeviceWithItsIds(_ backend: TestBackend) throws {
        let physical = try devices.physicalDevice(backend)
        if backend == .drm {
            // The kernel driver's device: virtio-gpu-pci's PCI ids, from sysfs.
            let pci = try #require(DRMTestDevice.info?.pci)
            #expect(physical.info.vendorId == UInt32(pci.vendorId) && physical.info.deviceId == UInt32(pci.deviceId))
            #expect(physical.name == DRMTestDevice.info?.locatorName)
        } else {
            #expect(UInt64(physical.info.vendorId) == SoftGPUIdentity.vendorId)
            #expect(UInt64(physical.info.deviceId) == SoftGPUIdentity.deviceId)
        }
        #expect(backend != .embedded || physical.name == DeviceLocator.embeddedName)
    }

    @Test func enumerationListsMagmadBeforeTheEmbeddedDevice() throws {
        let server = try TestServer()
        let names = PhysicalDevice.enumerate(in: server.directory).map(\.name)
        #expect(names.first == server.server.devicePath)
        #expect(names.last == DeviceLocator.embeddedName)
    }

    @Test func aDeviceThatCannotBeOpenedIsLeftOutOfTheEnumeration() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "magma-stale-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let stale = RuntimeDirectory.deviceEndpoint(in: directory, name: "000")
        try FileManager.default.createDirectory(atPath: (stale as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do { _ = try MessageSocket.listen(path: stale, permissions: 0o666) }   // closed at once: a dead magmad's socket
        #expect(DeviceLocator.availableNames(in: directory).first == stale)
        #expect(PhysicalDevice.enumerate(in: directory).map(\.name) == PhysicalDevice.enumerate(in: "/nonexistent").map(\.name))
        expectStatus(.connectionLost) { _ = try PhysicalDevice.named(stale) }
    }

    @Test(arguments: TestBackend.virtioCases) func deviceAddressSpaceAndQueue(_ backend: TestBackend) throws {
        let device = try devices.physicalDevice(backend).createDevice()
        defer { device.release() }
        let space = try device.createAddressSpace()
        let queue = try device.createQueue(in: space, priority: .low)
        #expect(queue.priority == .low)
        #expect(queue.addressSpace === space)
        #expect(try queue.checkStatus() == .ok)
        #expect(space.error == nil)
    }

    @Test(arguments: TestBackend.virtioCases) func aCommandBufferMappedRWXRunsItsCommands(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, targetAddress) = try session.mappedBuffer(size: 4096)
        let stream = fillStream(address: targetAddress, size: 4096, pattern: 0x0500_0000)
        let commands = try session.device.createBuffer(size: 4096, name: "commands")
        try commands.mapCPU().copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        try session.space.map(commands, gpuAddress: 0x2000_0000, size: 4096, flags: [.read, .write, .execute])
        let done = try session.device.createSyncObject()
        try session.queue.submit(.commandBuffer(commands, length: UInt64(stream.bytes.count), signalSyncObjects: [done]))
        try done.wait(timeoutNanoseconds: 60_000_000_000)
        #expect(try target.u32s(1024).allSatisfy { $0 == 0x0500_0000 })
        try session.space.unmap(gpuAddress: 0x2000_0000, size: 4096)
        #expect(try session.queue.checkStatus() == .ok)
    }

    @Test(arguments: TestBackend.virtioCases) func aCommandBufferRangeRunsOnlyItsCommands(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, address) = try session.mappedBuffer(size: 4096)
        var streams = fillStream(address: address, size: 4, pattern: 1)
        let second = UInt64(streams.bytes.count)
        streams.fill(address: address + 4, size: 4, pattern: 2)
        streams.end()
        let commands = try session.commandBuffer(streams)
        let done = try session.device.createSyncObject()
        try session.queue.submit(.commandBuffer(commands, offset: second, length: UInt64(streams.bytes.count) - second, signalSyncObjects: [done]))
        try done.wait(timeoutNanoseconds: 60_000_000_000)
        #expect(try target.u32s(2) == [0, 2])
    }

    @Test(.drmBackend(.runsWithTimelineSyncobjs), arguments: TestBackend.virtioCases) func binarySyncObjectsSignalResetAndWait(_ backend: TestBackend) throws {
        let device = try devices.physicalDevice(backend).createDevice()
        defer { device.release() }
        let sync = try device.createSyncObject()
        #expect(sync.kind == .binary)
        #expect(try !sync.isSignaled())
        expectStatus(.timedOut) { try sync.wait(timeoutNanoseconds: 0) }
        try sync.signal()
        try sync.wait(timeoutNanoseconds: 60_000_000_000)
        #expect(try sync.isSignaled(), "a CPU wait does not reset")
        try sync.reset()
        #expect(try !sync.isSignaled())
        try sync.release()
    }

    @Test(arguments: TestBackend.virtioCases) func aSubmitWaitsForItsWaitAndSignalsItsSignal(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, address) = try session.mappedBuffer(size: 4096)
        let start = try session.device.createSyncObject()
        let done = try session.device.createSyncObject()
        try session.submit(fillStream(address: address, size: 4096, pattern: 7), waits: [start], signals: [done])
        try session.space.connection.flush()
        expectStatus(.timedOut) { try done.wait(timeoutNanoseconds: 0) }
        #expect(try target.u32s(1) == [0], "the work waits for its sync object")
        try start.signal()
        try done.wait(timeoutNanoseconds: 60_000_000_000)
        #expect(try target.u32s(1024).allSatisfy { $0 == 7 })
        #expect(try !start.isSignaled(), "the work consumed its wait")
    }

    @Test(arguments: TestBackend.virtioCases) func anExportedFenceAndBufferWorkInASecondDevice(_ backend: TestBackend) throws {
        let physical = try devices.physicalDevice(backend)
        let first = try MesaSession(device: physical.createDevice())
        let second = try MesaSession(device: physical.createDevice())
        let shared = try first.device.createBuffer(size: 4096)
        let fence = try first.device.createSyncObject()

        let imported = try second.device.importBuffer(shared.export())
        #expect(imported.size == shared.size)
        try shared.mapCPU().storeBytes(of: 0xABCD, as: UInt32.self)
        #expect(try imported.u32s(1) == [0xABCD], "both devices see one memory")
        let importedFence = try second.device.importSyncObject(fence.export())
        try fence.signal()
        #expect(try importedFence.isSignaled(), "the import shares the fence's state")
        try importedFence.reset()
        #expect(try !fence.isSignaled())

        // The second device's work waits for the first device's fence, then fills the shared memory.
        let address = second.reserveAddress(imported.size)
        try second.space.map(imported, gpuAddress: address, size: imported.size, flags: [.read, .write])
        let done = try second.device.createSyncObject()
        try second.submit(fillStream(address: address, size: 4096, pattern: 0x1234), waits: [importedFence], signals: [done])
        try second.space.connection.flush()
        expectStatus(.timedOut) { try done.wait(timeoutNanoseconds: 0) }
        try fence.signal()
        try done.wait(timeoutNanoseconds: 60_000_000_000)
        #expect(try shared.u32s(1024).allSatisfy { $0 == 0x1234 })
    }

    @Test(arguments: TestBackend.virtioCases) func twentySubmitsRunInOrder(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (target, address) = try session.mappedBuffer(size: 4096)
        let done = try session.device.createSyncObject()
        for index in 0..<20 {
            // The first fills word 0; each later one copies the word before its own: only
            // in-order runs end with 100 in all 20 words.
            var stream = CommandStream()
            if index == 0 { stream.fill(address: address, size: 4, pattern: 100) }
            else { stream.copy(from: address + 4 * UInt64(index - 1), to: address + 4 * UInt64(index), size: 4) }
            stream.fill(address: address + 4 * UInt64(index) + 2048, size: 4, pattern: UInt32(index))
            stream.end()
            try session.submit(stream, signals: index == 19 ? [done] : [])
        }
        try done.wait(timeoutNanoseconds: 120_000_000_000)
        #expect(try target.u32s(20) == Array(repeating: 100, count: 20))
        let bytes = try target.mapCPU()
        #expect((0..<20).map { bytes.load(fromByteOffset: 2048 + 4 * $0, as: UInt32.self) } == (0..<20).map(UInt32.init))
        #expect(try session.queue.checkStatus() == .ok)
    }

    @Test(.drmBackend(.runsWithTimelineSyncobjs), arguments: TestBackend.virtioCases) func waitAnyAndWaitAll(_ backend: TestBackend) throws {
        let device = try devices.physicalDevice(backend).createDevice()
        defer { device.release() }
        let objects = try (0..<3).map { _ in try device.createSyncObject() }
        expectStatus(.timedOut) { _ = try SyncObject.waitAny(objects, timeoutNanoseconds: 0) }
        try objects[1].signal()
        #expect(try SyncObject.waitAny(objects, timeoutNanoseconds: 60_000_000_000) == 1)
        expectStatus(.timedOut) { try SyncObject.waitAll(objects, timeoutNanoseconds: 0) }
        try objects[0].signal()
        try objects[2].signal()
        try SyncObject.waitAll(objects, timeoutNanoseconds: 60_000_000_000)
        expectStatus(.invalidArgs) { try SyncObject.waitAll([SyncObject](), timeoutNanoseconds: 0) }
        expectStatus(.invalidArgs) { _ = try SyncObject.waitAny([SyncObject](), timeoutNanoseconds: 0) }
        expectStatus(.invalidArgs) { try SyncObject.waitAll([SyncObjectPoint](), timeoutNanoseconds: 0) }
        expectStatus(.invalidArgs) { _ = try SyncObject.waitAny([SyncObjectPoint](), timeoutNanoseconds: 0) }
    }

    @Test(arguments: TestBackend.virtioCases) func aSignalFromAnotherThreadStartsTheWork(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (_, address) = try session.mappedBuffer(size: 4096)
        let start = try session.device.createSyncObject()
        let done = try session.device.createSyncObject()
        try session.submit(fillStream(address: address, size: 4096, pattern: 3), waits: [start], signals: [done])
        try HostThread.spawn(name: "signaler") { try? start.signal() }
        try done.wait(timeoutNanoseconds: 120_000_000_000)
    }

    @Test(.drmBackend(.runs), arguments: TestBackend.virtioCases) func cpuMapAndUnmap(_ backend: TestBackend) throws {
        let device = try devices.physicalDevice(backend).createDevice()
        defer { device.release() }
        let buffer = try device.createBuffer(size: 100)
        #expect(buffer.size == UInt64(SharedMemory.pageSize))
        #expect(buffer.memoryTypeIndex == 0)
        #expect(!buffer.isCPUMapped)
        let bytes = try buffer.mapCPU()
        #expect(bytes.count == SharedMemory.pageSize)
        #expect(try buffer.mapCPU().baseAddress == bytes.baseAddress, "one mapping per buffer")
        #expect(buffer.isCPUMapped)
        try buffer.unmapCPU()
        #expect(!buffer.isCPUMapped)
        expectStatus(.badState) { try buffer.unmapCPU() }
        try buffer.release()
    }
}
