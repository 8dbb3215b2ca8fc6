@testable import Magma
import MagmaDevices
import MagmaDRM
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Testing

/// Mesa's face on a DRM device (the QEMU guest's virtio_gpu; docs/vm.md): what the DRM backend
/// has works through it (the physical device's info, buffers, binary and timeline sync
/// objects, sharing between devices), and what it lacks (a submitter: queues, GPU mappings,
/// budgets) is UNIMPLEMENTED, never a crash or a hang. Runs only where DRM is.
@Suite(.hangGuard, .enabled(if: DRMTestDevice.info != nil, "no DRM device here (the guest has one)"))
struct MesaDRMTests {
    private func physicalDevice() throws -> PhysicalDevice {
        let info = try #require(DRMTestDevice.info)
        return try #require(PhysicalDevice.enumerate().first { $0.name == info.locatorName }, "enumeration finds the DRM device")
    }

    @Test func buffersAndSyncObjectsWorkThroughTheFace() throws {
        let physical = try physicalDevice()
        #expect(physical.info.driverName == "virtio_gpu")
        #expect(physical.info.bus.type == .pci && physical.info.bus == DRMTestDevice.info?.bus, "virtio-gpu-pci's address from sysfs")
        #expect(!physical.memoryProperties.types.isEmpty)
        let (first, second) = (try physical.createDevice(), try physical.createDevice())
        defer {
            first.release()
            second.release()
        }
        // A buffer written through one device's CPU mapping reads the same through another's import.
        let buffer = try first.createBuffer(size: 65536)
        let bytes = try buffer.mapCPU()
        for index in 0..<1024 { bytes.storeBytes(of: UInt32(0xD4A0_0000 + index), toByteOffset: index * 4, as: UInt32.self) }
        let imported = try second.importBuffer(try buffer.export())
        let seen = try imported.mapCPU()
        #expect((0..<1024).allSatisfy { seen.load(fromByteOffset: $0 * 4, as: UInt32.self) == UInt32(0xD4A0_0000 + $0) })

        try imported.release()
        try buffer.release()

        // Binary sync objects (syncobjs), shared by export and import, where the driver has
        // them (virtio_gpu on Linux 6.12; on 6.1 it has none: UNIMPLEMENTED, claimed by nothing).
        guard try first.syncCapabilities.contains(.binary) else {
            #expect(try first.syncCapabilities.isEmpty)
            expectStatus(.unimplemented) { _ = try first.createSyncObject() }
            expectStatus(.unimplemented) { _ = try first.createSyncObject(.timeline(initialValue: 0)) }
            return
        }
        let fence = try first.createSyncObject()
        let shared = try second.importSyncObject(try fence.export())
        expectStatus(.timedOut) { try shared.wait(timeoutNanoseconds: 1_000_000) }
        try fence.signal()
        try shared.wait(timeoutNanoseconds: 10_000_000_000)

        // Timelines (timeline syncobjs), where the kernel has them.
        if try first.syncCapabilities.contains(.timeline) {
            let timeline = try first.createSyncObject(.timeline(initialValue: 2))
            try timeline.signal(to: 5)
            #expect(try timeline.value() == 5)
            expectStatus(.invalidArgs) { try timeline.signal(to: 4) }
            try SyncObject.waitAll([timeline.point(5), fence.point()], timeoutNanoseconds: 10_000_000_000)
        }
    }

    @Test func whatTheBackendLacksIsUnimplemented() throws {
        let device = try physicalDevice().createDevice()
        defer { device.release() }
        let space = try device.createAddressSpace()
        #expect(device.physicalDevice.queueFamilies.isEmpty)
        // No family to make one of: UNIMPLEMENTED, for any family asked for, saying why.
        for family in [nil, 0, 1] as [UInt32?] {
            let error = #expect(throws: MagmaError.self) { _ = try device.createQueue(in: space, family: family) }
            #expect(error?.status == .unimplemented)
            #expect(error?.message.contains("no queue families") == true && error?.message.contains("virtio_gpu") == true, "\(String(describing: error))")
        }
        let buffer = try device.createBuffer(size: 4096)
        expectStatus(.unimplemented) { try space.map(buffer, gpuAddress: 0x10_0000, size: 4096, flags: [.read]) }
        expectStatus(.unimplemented) { _ = try device.memoryBudget(heap: 0) }
        #expect(space.error == nil, "a refused call leaves the address space usable")
    }
}
