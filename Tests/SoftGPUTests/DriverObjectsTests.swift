import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaTestSupport
@testable import SoftGPU
import Testing

/// SoftGPU's buffers and semaphores are its own objects: it counts what MagmaSystem imported
/// and has not released, and work it holds keeps using what the client already released.
@Suite(.hangGuard) struct DriverObjectsTests {
    private let device: SystemDevice
    private let softGPU: SoftGPUDevice
    private static let patience: UInt64 = 10_000_000_000

    init() throws {
        device = try SystemDevice(driver: SoftGPUDriver(configuration: SoftGPUConfiguration(computeThreads: 1)))
        softGPU = try #require(device.msd as? SoftGPUDevice)
    }

    private var held: (buffers: Int, bytes: Int, semaphores: Int) {
        (softGPU.imported.buffers.load(ordering: .relaxed), softGPU.imported.bufferBytes.load(ordering: .relaxed),
         softGPU.imported.semaphores.load(ordering: .relaxed))
    }

    @Test func everyImportIsReleasedByReleaseOrClose() throws {
        let connection = try device.openConnection(trust: .trusted, sink: DiscardingSink())
        let shared = try SharedMemory.create(size: 8192)
        connection.importBuffer(id: 1, memory: shared)
        connection.importBuffer(id: 1, memory: try SharedMemory.importing(try #require(shared.descriptor).duplicate()))
        connection.importBuffer(id: 2, memory: try SharedMemory.create(size: 4096))
        connection.importSemaphore(id: 3, event: try EventSemaphore(), flags: [])
        connection.importSemaphore(id: 4, event: try EventSemaphore(), flags: .oneShot)
        connection.mapBuffer(gpuAddress: 0x10000, bufferId: 1, offset: 0, length: 8192, flags: .read)
        #expect(held == (2, 12288, 2), "the second import of buffer 1 made no new buffer")
        connection.releaseBuffer(id: 1)
        connection.releaseBuffer(id: 1)
        connection.releaseSemaphore(id: 3)
        #expect(held == (1, 4096, 1))
        connection.mapBuffer(gpuAddress: 0x10000, bufferId: 2, offset: 0, length: 4096, flags: .read)
        #expect(connection.flush() == nil, "the released buffer's mapping is gone")
        connection.close()
        #expect(held == (0, 0, 0))
    }

    @Test func workKeepsUsingObjectsTheClientReleased() throws {
        let connection = try device.openConnection(trust: .trusted, sink: DiscardingSink())
        let target = try SharedMemory.create(size: 4096)
        let gate = try EventSemaphore(), done = try EventSemaphore()
        connection.importBuffer(id: 1, memory: target)
        connection.mapBuffer(gpuAddress: 0x10000, bufferId: 1, offset: 0, length: 4096, flags: [.read, .write])
        connection.importSemaphore(id: 2, event: gate, flags: [])
        connection.importSemaphore(id: 3, event: done, flags: [])
        connection.createContext(id: 1, priority: .medium)
        var stream = CommandStream()
        stream.fill(address: 0x10000, size: 16, pattern: 7)
        stream.end()
        let commands = try SharedMemory.create(size: 4096)
        stream.bytes.withUnsafeBytes { commands.base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        connection.importBuffer(id: 4, memory: commands)
        connection.executeCommand(contextId: 1, descriptor: CommandDescriptor(
            resources: [BufferRange(bufferId: 4, offset: 0, length: 4096)], commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)],
            waitSemaphores: [2], signalSemaphores: [3]))
        connection.releaseSemaphore(id: 2)
        connection.releaseSemaphore(id: 3)
        #expect(held.semaphores == 0, "released, though queued work still waits on one and signals the other")
        gate.signal()
        #expect(done.wait(timeoutNanoseconds: Self.patience), "the driver kept both semaphores for its work")
        #expect(target.base.load(as: UInt32.self) == 7)
        #expect(connection.flush() == nil)
        connection.close()
        #expect(held == (0, 0, 0))
    }
}

/// Drops what the system sends the client.
private final class DiscardingSink: NotificationSink {
    func deliver(_ message: [UInt8]) {}
    func connectionClosed(_ error: MagmaError) {}
}
