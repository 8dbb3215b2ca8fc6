@testable import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// The bind queue through Mesa's face, on every backend: binds that take effect only once their
/// wait point is reached and before their signal, work ordered after them that sees the new
/// mapping, unmaps, and what the face refuses before the device sees it.
@Suite(.hangGuard, .drmBackend(.skipped(.gpuMappings))) struct MesaBindTests {
    let devices = MesaTestDevices()

    /// A queue of SoftGPU's bind family in the session's address space.
    private func bindQueue(_ session: MesaSession) throws -> Queue {
        try session.device.createQueue(in: session.space, family: SoftGPUIdentity.bindFamily)
    }

    @Test(arguments: TestBackend.virtioCases) func aBindTakesEffectAfterItsWaitAndBeforeItsSignal(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let binds = try bindQueue(session)
        #expect(binds.family == SoftGPUIdentity.bindFamily)
        let target = try session.device.createBuffer(size: 4096)
        let address = session.reserveAddress(4096)
        let timeline = try session.device.createSyncObject(.timeline(initialValue: 0))
        try binds.bind([.map(target, gpuAddress: address, size: 4096, flags: [.read, .write])],
                       waits: [timeline.point(1)], signals: [timeline.point(2)])
        // Not yet: the bind waits for point 1.
        expectStatus(.timedOut) { try timeline.wait(for: 2, timeoutNanoseconds: 50_000_000) }
        // Work ordered after the bind's signal fills the page the bind maps.
        let fill = try session.commandBuffer(fillStream(address: address, size: 4096, pattern: 0xB1D0_0001))
        try session.queue.submit(SubmitInfo(commands: .buffer(fill, offset: 0, length: fill.size), waits: [timeline.point(2)],
                                            signals: [timeline.point(3)]))
        try timeline.signal(to: 1)
        try timeline.wait(for: 3, timeoutNanoseconds: 60_000_000_000)
        #expect(try target.u32s(1024).allSatisfy { $0 == 0xB1D0_0001 })
        #expect(session.space.error == nil)

        // An unmap by bind: the address space's own unmap no longer finds the mapping, and the
        // range can be mapped again.
        try binds.bind([.unmap(gpuAddress: address, size: 4096)], signals: [timeline.point(4)])
        try timeline.wait(for: 4, timeoutNanoseconds: 60_000_000_000)
        expectStatus(.invalidArgs) { try session.space.unmap(gpuAddress: address, size: 4096) }
        try session.space.map(target, gpuAddress: address, size: 4096, flags: [.read])
        #expect(session.space.error == nil)
    }

    @Test(arguments: TestBackend.virtioCases) func operationsOfOneBindApplyInOrder(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let binds = try bindQueue(session)
        let (first, second) = (try session.device.createBuffer(size: 4096), try session.device.createBuffer(size: 4096))
        let address = session.reserveAddress(4096)
        let done = try session.device.createSyncObject(.timeline(initialValue: 0))
        // Map, unmap, map again at the same address: only the last mapping remains.
        try binds.bind([.map(first, gpuAddress: address, size: 4096, flags: [.read, .write]), .unmap(gpuAddress: address, size: 4096),
                        .map(second, gpuAddress: address, size: 4096, flags: [.read, .write])], signals: [done.point(1)])
        let fill = try session.commandBuffer(fillStream(address: address, size: 4096, pattern: 0x5EC0_0002))
        try session.queue.submit(SubmitInfo(commands: .buffer(fill, offset: 0, length: fill.size), waits: [done.point(1)], signals: [done.point(2)]))
        try done.wait(for: 2, timeoutNanoseconds: 60_000_000_000)
        #expect(try second.u32s(1024).allSatisfy { $0 == 0x5EC0_0002 })
        #expect(try first.u32s(1024).allSatisfy { $0 == 0 })
    }

    @Test(arguments: TestBackend.virtioCases) func theFaceRefusesWhatTheDeviceWouldAndNothingChanges(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let binds = try bindQueue(session)
        let (mapped, mappedAddress) = try session.mappedBuffer(size: 4096)
        let spare = try session.device.createBuffer(size: 8192)
        // A bind on a compute queue, and commands on a bind queue.
        expectStatus(.invalidArgs) { try session.queue.bind([.unmap(gpuAddress: mappedAddress, size: 4096)]) }
        let fill = try session.commandBuffer(fillStream(address: mappedAddress, size: 4096, pattern: 1))
        expectStatus(.invalidArgs) { try binds.submit(.commandBuffer(fill, length: fill.size)) }
        // Empty, misaligned, past the buffer, overlapping (also with an earlier operation of the
        // same bind), and an unmap that is not exactly one mapping.
        expectStatus(.invalidArgs) { try binds.bind([]) }
        expectStatus(.invalidArgs) { try binds.bind([.map(spare, gpuAddress: 0x7000_0100, size: 4096, flags: [.read])]) }
        expectStatus(.invalidArgs) { try binds.bind([.map(spare, bufferOffset: 4096, gpuAddress: 0x7000_0000, size: 8192, flags: [.read])]) }
        expectStatus(.invalidArgs) { try binds.bind([.map(spare, gpuAddress: mappedAddress, size: 4096, flags: [.read])]) }
        expectStatus(.invalidArgs) {
            try binds.bind([.map(spare, gpuAddress: 0x7000_0000, size: 8192, flags: [.read]),
                            .map(spare, gpuAddress: 0x7000_1000, size: 4096, flags: [.read])])
        }
        expectStatus(.invalidArgs) { try binds.bind([.unmap(gpuAddress: mappedAddress, size: 8192)]) }
        // The refused binds changed nothing: the mapping is there, 0x7000_0000 is free, and the
        // address space is healthy.
        try session.run(fillStream(address: mappedAddress, size: 4096, pattern: 0x0C0F_FEE0))
        #expect(try mapped.u32s(1024).allSatisfy { $0 == 0x0C0F_FEE0 })
        try session.space.map(spare, gpuAddress: 0x7000_0000, size: 8192, flags: [.read])
        #expect(session.space.error == nil)
        #expect(try binds.checkStatus() == .ok)
    }
}
