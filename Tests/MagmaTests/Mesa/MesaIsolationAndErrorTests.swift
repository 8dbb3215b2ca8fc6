import Foundation
@testable import Magma
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// The Mesa face's address spaces stay isolated, a faulting queue reports it, and bad calls get
/// typed errors that change nothing, on every backend.
@Suite(.hangGuard, .drmBackend(.skipped(.gpuMappings))) struct MesaIsolationAndErrorTests {
    let devices = MesaTestDevices()

    @Test(arguments: TestBackend.virtioCases) func aBufferMappedInOneAddressSpaceIsUnreachableFromAnother(_ backend: TestBackend) throws {
        let session = try devices.session(backend, own: SoftGPUConfiguration())
        let (secret, address) = try session.mappedBuffer(size: 4096)
        try secret.mapCPU().storeBytes(of: 0x5EC7E7, as: UInt32.self)
        let other = try session.device.createAddressSpace()
        let otherQueue = try session.device.createQueue(in: other)
        let done = try session.device.createSyncObject()

        // The other address space's work writes where the secret is mapped in the first.
        try session.submit(fillStream(address: address, size: 4, pattern: 0xBAD), on: otherQueue, signals: [done])
        #expect(awaitError(other)?.status == .contextKilled)
        #expect(try otherQueue.checkStatus() == .contextKilled)
        expectStatus(.contextKilled) { try done.wait(timeoutNanoseconds: 60_000_000_000) }
        #expect(try secret.u32s(1) == [0x5EC7E7])
        #expect(!secret.instances.hasInstance(in: other), "the buffer never reached the other address space")
        #expect(secret.instances.hasInstance(in: session.space))

        // The first address space goes on.
        #expect(try session.queue.checkStatus() == .ok)
        try session.run(fillStream(address: address, size: 4, pattern: 1))
        #expect(try secret.u32s(1) == [1])
    }

    @Test(arguments: TestBackend.virtioCases) func oneBufferMappedInTwoAddressSpacesIsOneMemory(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (buffer, address) = try session.mappedBuffer(size: 4096)
        let other = try session.device.createAddressSpace()
        let otherQueue = try session.device.createQueue(in: other)
        try other.map(buffer, gpuAddress: 0x4000_0000, size: buffer.size, flags: [.read, .write])
        try session.run(fillStream(address: 0x4000_0000 + 8, size: 4, pattern: 9), on: otherQueue)
        try session.run(fillStream(address: address, size: 4, pattern: 8))
        #expect(try buffer.u32s(3) == [8, 0, 9])
        try other.unmap(gpuAddress: 0x4000_0000, size: buffer.size)
        // Mapping it again reuses its one import there.
        try other.map(buffer, gpuAddress: 0x5000_0000, size: buffer.size, flags: .read)
        #expect(buffer.instances.instances.filter { $0.space === other }.count == 1)
    }

    @Test(arguments: TestBackend.virtioCases) func firstUsesOnManyThreadsImportOnce(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let buffer = try session.device.createBuffer(size: 4096)
        let sync = try session.device.createSyncObject()
        let space = session.space
        let failures = Locked<[MagmaError]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            do throws(MagmaError) {
                try space.map(buffer, gpuAddress: 0x1000_0000 + UInt64(index) * 0x10_0000, size: 4096, flags: [.read, .write])
                _ = try sync.instance(in: space)
            } catch { failures.withLock { $0.append(error) } }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        #expect(buffer.instances.instances.count == 1)
        #expect(sync.instances.instances.count == 1)
        #expect(space.mappedBuffers.count == 1)
        // All eight mappings are of one memory.
        try session.run(fillStream(address: 0x1000_0000 + 7 * 0x10_0000, size: 4, pattern: 77))
        #expect(try buffer.u32s(1) == [77])
        try session.space.connection.flush()
        #expect(try session.queue.checkStatus() == .ok)
    }

    @Test(arguments: TestBackend.virtioCases) func aFaultingSubmissionKillsItsQueueAndEndsWaitsOnItsSignal(_ backend: TestBackend) throws {
        let session = try devices.session(backend, own: SoftGPUConfiguration())
        let done = try session.device.createSyncObject()
        let other = try session.device.createSyncObject()
        var stream = CommandStream()
        stream.copy(from: 0x7000_0000, to: 0x7100_0000, size: 4)
        stream.end()
        try session.submit(stream, signals: [done])
        expectStatus(.contextKilled) { _ = try SyncObject.waitAny([done, other], timeoutNanoseconds: 60_000_000_000) }
        #expect(try session.queue.checkStatus() == .contextKilled)
        // Every later submission in the address space reports it.
        expectStatus(.contextKilled) { try session.submit(fillStream(address: 0, size: 4, pattern: 0)) }
        // The device's other address spaces still work.
        let fresh = try MesaSession(device: session.device.physicalDevice.createDevice())
        let (target, address) = try fresh.mappedBuffer(size: 4096)
        try fresh.run(fillStream(address: address, size: 4, pattern: 5))
        #expect(try target.u32s(1) == [5])
    }

    @Test(.drmBackend(.skipped(.queues)), arguments: TestBackend.virtioCases) func releasedObjectsAreRejected(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let buffer = try session.device.createBuffer(size: 4096)
        try buffer.release()
        expectStatus(.invalidArgs) { try buffer.release() }
        expectStatus(.invalidArgs) { try session.space.map(buffer, gpuAddress: 0x1000_0000, size: 4096, flags: .read) }
        expectStatus(.invalidArgs) { _ = try buffer.mapCPU() }
        expectStatus(.invalidArgs) { _ = try buffer.export() }
        expectStatus(.invalidArgs) { try session.queue.submit(.commandBuffer(buffer, length: 4)) }

        let sync = try session.device.createSyncObject()
        try sync.release()
        expectStatus(.invalidArgs) { try sync.release() }
        expectStatus(.invalidArgs) { try sync.signal() }
        expectStatus(.invalidArgs) { try sync.reset() }
        expectStatus(.invalidArgs) { try sync.wait(timeoutNanoseconds: 0) }
        expectStatus(.invalidArgs) { _ = try sync.export() }
        expectStatus(.invalidArgs) { try session.submit(fillStream(address: 0, size: 4, pattern: 0), signals: [sync]) }

        let queue = try session.device.createQueue(in: session.space)
        try queue.release()
        expectStatus(.invalidArgs) { try queue.release() }
        expectStatus(.invalidArgs) { try session.submit(fillStream(address: 0, size: 4, pattern: 0), on: queue) }

        let space = try session.device.createAddressSpace()
        let spaceQueue = try session.device.createQueue(in: space)
        space.release()
        expectStatus(.badState) { try space.map(try session.device.createBuffer(size: 4096), gpuAddress: 0x1000_0000, size: 4096, flags: .read) }
        expectStatus(.badState) { _ = try spaceQueue.checkStatus() }
        expectStatus(.badState) { _ = try session.device.createQueue(in: space) }

        // None of it disturbed the session.
        try session.space.connection.flush()
        #expect(try session.queue.checkStatus() == .ok)
        let (target, address) = try session.mappedBuffer(size: 4096)
        try session.run(fillStream(address: address, size: 4, pattern: 6))
        #expect(try target.u32s(1) == [6])
    }

    @Test(.drmBackend(.skipped(.queues)), arguments: TestBackend.virtioCases) func releasingAnAddressSpaceLeavesTheDevicesSyncObjectsWorking(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (_, address) = try session.mappedBuffer(size: 4096)
        let sync = try session.device.createSyncObject()
        try session.run(fillStream(address: address, size: 4, pattern: 1))
        try session.submit(fillStream(address: address, size: 4, pattern: 2), signals: [sync])
        try sync.wait(timeoutNanoseconds: 60_000_000_000)
        try sync.reset()
        session.space.release()
        // Waits no longer involve the released address space: they end by the sync object alone.
        expectStatus(.timedOut) { try sync.wait(timeoutNanoseconds: 0) }
        try sync.signal()
        try sync.wait(timeoutNanoseconds: 60_000_000_000)
        try sync.release()
    }

    @Test(arguments: TestBackend.virtioCases) func releasingTheDeviceReleasesItsAddressSpaces(_ backend: TestBackend) throws {
        let device = try devices.physicalDevice(backend).createDevice()
        let space = try device.createAddressSpace()
        let queue = try device.createQueue(in: space)
        let buffer = try device.createBuffer(size: 4096)
        device.release()
        expectStatus(.badState) { try space.map(buffer, gpuAddress: 0x1000_0000, size: 4096, flags: .read) }
        expectStatus(.badState) { _ = try queue.checkStatus() }
        expectStatus(.badState) { _ = try device.createBuffer(size: 4096) }
        expectStatus(.badState) { _ = try device.createSyncObject() }
        expectStatus(.badState) { _ = try device.createAddressSpace() }
        expectStatus(.badState) { try buffer.release() }
        expectStatus(.invalidArgs) { try buffer.release() }
    }

    @Test(arguments: TestBackend.virtioCases) func wrongSizesAndRangesAreRejected(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let page = UInt64(SharedMemory.pageSize)
        let buffer = try session.device.createBuffer(size: 2 * page)
        expectStatus(.invalidArgs) { _ = try session.device.createBuffer(size: 0) }
        expectStatus(.invalidArgs) { _ = try session.device.createBuffer(size: page, memoryTypeIndex: 7) }
        expectStatus(.invalidArgs) { try session.space.map(buffer, gpuAddress: 0x1000_0000, size: 0, flags: .read) }
        expectStatus(.invalidArgs) { try session.space.map(buffer, gpuAddress: 0x1000_0000, size: 100, flags: .read) }
        expectStatus(.invalidArgs) { try session.space.map(buffer, gpuAddress: 0x1000_0010, size: page, flags: .read) }
        expectStatus(.invalidArgs) { try session.space.map(buffer, bufferOffset: 8, gpuAddress: 0x1000_0000, size: page, flags: .read) }
        expectStatus(.invalidArgs) { try session.space.map(buffer, bufferOffset: page, gpuAddress: 0x1000_0000, size: 2 * page, flags: .read) }
        expectStatus(.invalidArgs) { try session.space.map(buffer, gpuAddress: UInt64.max - page + 1, size: 2 * page, flags: .read) }

        try session.space.map(buffer, bufferOffset: page, gpuAddress: 0x1000_0000, size: page, flags: [.read, .write])
        expectStatus(.invalidArgs) { try session.space.map(buffer, gpuAddress: 0x1000_0000 - page, size: 2 * page, flags: .read) }
        expectStatus(.invalidArgs) { try session.space.unmap(gpuAddress: 0x1000_0000, size: 2 * page) }
        expectStatus(.invalidArgs) { try session.space.unmap(gpuAddress: 0x2000_0000, size: page) }

        let commands = try session.commandBuffer(fillStream(address: 0x1000_0000, size: 4, pattern: 4))
        expectStatus(.invalidArgs) { try session.queue.submit(.commandBuffer(commands, length: 0)) }
        expectStatus(.invalidArgs) { try session.queue.submit(.commandBuffer(commands, offset: commands.size - 4, length: 8)) }
        expectStatus(.invalidArgs) { try session.queue.submit(.commandBuffer(commands, offset: UInt64.max, length: 2)) }

        // Objects of another device are not this one's.
        let stranger = try session.device.physicalDevice.createDevice()
        defer { stranger.release() }
        let foreign = try stranger.createBuffer(size: page)
        expectStatus(.invalidArgs) { try session.space.map(foreign, gpuAddress: 0x3000_0000, size: page, flags: .read) }
        expectStatus(.invalidArgs) { try session.queue.submit(.commandBuffer(foreign, length: 4)) }
        expectStatus(.invalidArgs) { try session.submit(fillStream(address: 0, size: 4, pattern: 0), signals: [try stranger.createSyncObject()]) }
        expectStatus(.invalidArgs) { _ = try stranger.createQueue(in: session.space) }

        // The mapping that was made works; nothing else changed.
        let done = try session.device.createSyncObject()
        try session.queue.submit(.commandBuffer(commands, length: commands.size, signalSyncObjects: [done]))
        try done.wait(timeoutNanoseconds: 60_000_000_000)
        let bytes = try buffer.mapCPU()
        #expect(bytes.load(fromByteOffset: Int(page), as: UInt32.self) == 4)
        try session.space.unmap(gpuAddress: 0x1000_0000, size: page)
        #expect(try session.queue.checkStatus() == .ok)
    }

    @Test(arguments: TestBackend.virtioCases) func releasingABufferUnmapsItInEveryAddressSpace(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (buffer, address) = try session.mappedBuffer(size: 4096)
        try session.run(fillStream(address: address, size: 4, pattern: 2))
        try buffer.release()
        expectStatus(.invalidArgs) { try session.space.unmap(gpuAddress: address, size: 4096) }
        // The address is free again.
        let again = try session.device.createBuffer(size: 4096)
        try session.space.map(again, gpuAddress: address, size: 4096, flags: [.read, .write])
        try session.run(fillStream(address: address, size: 4, pattern: 3))
        #expect(try again.u32s(1) == [3])
    }
}
