import Glibc
@testable import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Testing

/// The physical-device, memory, queue-family and GPU-address calls reach the backend protocol
/// as `DeviceBackend` and `ConnectionBackend` document them.
@Suite(.hangGuard) struct CoreMemoryTests {
    let backend: RecordingBackend
    let device: Device
    let connection: Connection

    init() throws {
        backend = try RecordingBackend()
        device = Device(backend: backend)
        connection = try device.createConnection()
    }

    @Test func theDeviceDescriptionIsTheBackends() throws {
        let info = try device.physicalDeviceInfo()
        #expect(info.name == "recorded" && info.vendorId == 1)
        #expect(try device.memoryProperties() == info.memoryProperties)
        #expect(try device.queueFamilies() == [QueueFamily(flags: [.transfer], count: 2)])
        #expect(backend.calls == ["connect", "physicalDeviceInfo", "physicalDeviceInfo", "physicalDeviceInfo"])
    }

    /// A backend whose device is not in this process takes the protocol's default: memory of
    /// this process cannot become its buffer.
    @Test func adoptingProcessMemoryIsUnimplementedByDefault() throws {
        final class Owner: Sendable {}
        let owner = Owner()
        let mapping = try SharedMemory.create(size: 4096)
        let memory = try SharedMemory.adopting(mapping: mapping.base, size: 4096, heldBy: owner)
        #expect(memory.kind == .guestPages && memory.descriptor == nil && memory.identity == .mapping(ObjectIdentifier(owner)))
        #expect { _ = try connection.adoptBuffer(memory) } throws: { ($0 as? MagmaError)?.status == .unimplemented }
        #expect(backend.calls == ["connect"])
        #expect(throws: PlatformError.self) { _ = try SharedMemory.adopting(mapping: mapping.base, size: 100, heldBy: owner) }
        #expect(throws: PlatformError.self) { _ = try SharedMemory.adopting(mapping: mapping.base + 8, size: 4096, heldBy: owner) }
        withExtendedLifetime(mapping) {}
    }

    @Test func memoryTypesBudgetsAndFamiliesReachTheBackend() throws {
        let buffer = try connection.createBuffer(size: 4096, memoryType: 2, name: "t")
        _ = buffer
        _ = try connection.importBuffer(OwnedFileDescriptor(taking: dup(0)), memoryType: 3)
        #expect(try connection.memoryBudget(heap: 5) == MemoryBudget(budget: 1005, usage: 5))
        let context = try connection.createContext(queueFamily: 1, priority: .low)
        #expect(context.queueFamily == 1 && context.priority == .low)
        #expect(try connection.createContext().queueFamily == 0)
        try connection.execute(on: context, GpuAddressCommand(gpuAddress: 0x20000, length: 64, waitSemaphores: [4], signalSemaphores: [5]))
        #expect(Array(backend.calls.dropFirst()) == ["createBuffer(4096,2,t)", "importBuffer(memoryType:3)", "memoryBudget(5)",
                                                     "createContext(\(Priority.low.rawValue),family:1)", "createContext(\(Priority.medium.rawValue))",
                                                     "executeAt(7,131072,64,wait:[4],signal:[5])"])
    }

    @Test func whatTheClientCanSeeItselfNeverReachesTheBackend() throws {
        let context = try connection.createContext(queueFamily: 1)
        let before = backend.calls.count
        #expect(throws: MagmaError(.invalidArgs)) { try connection.execute(on: context, GpuAddressCommand(gpuAddress: 0, length: 0)) }
        #expect(throws: MagmaError(.invalidArgs)) { _ = try connection.createBuffer(size: 0, memoryType: 1) }
        let other = try device.createConnection()
        #expect(throws: MagmaError(.invalidArgs)) { try other.execute(on: context, GpuAddressCommand(gpuAddress: 0, length: 8)) }
        connection.release()
        #expect(throws: MagmaError(.badState)) { _ = try connection.memoryBudget(heap: 0) }
        #expect(throws: MagmaError(.badState)) { _ = try connection.createContext(queueFamily: 0) }
        #expect(backend.calls.count == before + 1, "only the other connection's connect")
    }
}
