import Foundation
@testable import Magma
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import SoftGPU
import Testing

/// Physical devices of the Mesa face for one test, found by enumeration as a program finds
/// them, on a `TestBackend`; tears the servers down after the test (as `TestDevices`).
final class MesaTestDevices: Sendable {
    private let servers = Locked<[TestServer]>([])
    private let virtioServers = Locked<[VirtioTestServer]>([])

    /// The physical device of `backend`. With no configuration: the embedded device (found by
    /// enumerating a runtime directory with no magmad in it) or a server's device (found by
    /// enumerating the server's runtime directory). With one: a device of its own running
    /// SoftGPU with it (in-process, or a server of its own). On `.virtio`: a virtio-gpu device
    /// model of the test's own with SoftGPU (its `virtio:<path>` name; a logical device's
    /// address spaces are contexts of one guest, objects imported into them by export/import);
    /// on `.virtioOneTimeline` the same, its guest's device without CONTEXT_INIT.
    /// On `.drm`: the DRM device as
    /// enumeration finds it, where the running test's `.drmBackend(...)` declaration lets it
    /// run; otherwise the test case is cancelled here.
    func physicalDevice(_ backend: TestBackend, own configuration: SoftGPUConfiguration? = nil,
                        sourceLocation: SourceLocation = #_sourceLocation) throws -> PhysicalDevice {
        switch backend {
        case .embedded:
            if let configuration {
                return try PhysicalDevice(device: Device.open(.inProcess(SoftGPUDriver(configuration: configuration))), name: "in-process")
            }
            let emptyDirectory = FileManager.default.temporaryDirectory.appending(path: "magma-none-\(UUID().uuidString.prefix(8))").path
            return try #require(PhysicalDevice.enumerate(in: emptyDirectory).first { $0.name == DeviceLocator.embeddedName })
        case .socket:
            let server = try TestServer(softGPU: configuration ?? SoftGPUConfiguration())
            servers.withLock { $0.append(server) }
            return try #require(PhysicalDevice.enumerate(in: server.directory).first { $0.name == server.server.devicePath })
        case .drm:
            try DRMBackendSupport.check(DRMBackendSupport.current, sourceLocation: sourceLocation)
            precondition(configuration == nil, "the DRM device runs no SoftGPU")
            let info = try #require(DRMTestDevice.info, "no virtio_gpu DRM device")
            return try #require(PhysicalDevice.enumerate().first { $0.name == info.locatorName }, "enumeration finds the DRM device")
        case .virtio:
            let server = try VirtioTestServer(softGPU: configuration ?? SoftGPUConfiguration())
            virtioServers.withLock { $0.append(server) }
            let name = DeviceLocator.virtioPrefix + server.server.path
            return try PhysicalDevice(device: Device.open(.named(name)), name: name)
        case .virtgpu:
            if configuration != nil { try DRMTestDevice.skipOwnConfiguration(sourceLocation) }
            let name = try DRMTestDevice.virtgpuName()
            return try PhysicalDevice(device: Device.open(.named(name)), name: name)
        case .virtioOneTimeline:
            let server = try VirtioTestServer(softGPU: configuration ?? SoftGPUConfiguration())
            virtioServers.withLock { $0.append(server) }
            return try PhysicalDevice(device: server.open(contextInit: false), name: DeviceLocator.virtioPrefix + server.server.path)
        }
    }

    /// A logical device with one address space and one queue in it, on `backend`.
    func session(_ backend: TestBackend, own configuration: SoftGPUConfiguration? = nil,
                 sourceLocation: SourceLocation = #_sourceLocation) throws -> MesaSession {
        try MesaSession(device: physicalDevice(backend, own: configuration, sourceLocation: sourceLocation).createDevice())
    }
}

/// A logical device, an address space and a queue, with helpers to run SoftGPU work on them.
final class MesaSession {
    let device: LogicalDevice
    let space: AddressSpace
    let queue: Queue
    private var nextAddress: UInt64 = 0x100_0000

    init(device: LogicalDevice) throws {
        self.device = device
        space = try device.createAddressSpace()
        queue = try device.createQueue(in: space)
    }

    deinit { device.release() }

    /// A fresh page-aligned GPU address range of `size` bytes (with a guard gap).
    func reserveAddress(_ size: UInt64) -> UInt64 {
        let address = nextAddress
        nextAddress += SharedMemory.pageAligned(size)! + 0x10000
        return address
    }

    /// A zeroed buffer of `size` bytes mapped in `space` (by default the session's) with
    /// `flags`, and its GPU address.
    func mappedBuffer(size: UInt64, flags: MapFlags = [.read, .write], in space: AddressSpace? = nil) throws -> (DeviceBuffer, UInt64) {
        let buffer = try device.createBuffer(size: size)
        let address = reserveAddress(buffer.size)
        try (space ?? self.space).map(buffer, gpuAddress: address, size: buffer.size, flags: flags)
        return (buffer, address)
    }

    /// A buffer of the device holding `stream`, mapped nowhere.
    func commandBuffer(_ stream: CommandStream) throws -> DeviceBuffer {
        let buffer = try device.createBuffer(size: UInt64(stream.bytes.count))
        try buffer.mapCPU().copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        return buffer
    }

    /// Submits `stream` on `queue` (by default the session's) with the given sync objects.
    func submit(_ stream: CommandStream, on queue: Queue? = nil, waits: [SyncObject] = [], signals: [SyncObject] = []) throws {
        let commands = try commandBuffer(stream)
        try (queue ?? self.queue).submit(.commandBuffer(commands, length: UInt64(stream.bytes.count), waitSyncObjects: waits,
                                                        signalSyncObjects: signals))
    }

    /// Submits `stream` and waits for it; throws the address space's error if the work failed.
    func run(_ stream: CommandStream, on queue: Queue? = nil) throws {
        let done = try device.createSyncObject()
        try submit(stream, on: queue, signals: [done])
        try done.wait(timeoutNanoseconds: 120_000_000_000)
        try done.release()
    }
}

/// A stream that fills `size` bytes at `address` with `pattern`.
func fillStream(address: UInt64, size: UInt64, pattern: UInt32) -> CommandStream {
    var stream = CommandStream()
    stream.fill(address: address, size: size, pattern: pattern)
    stream.end()
    return stream
}

extension DeviceBuffer {
    /// The first `count` u32 of the buffer, read through its CPU mapping.
    func u32s(_ count: Int) throws -> [UInt32] {
        let bytes = try mapCPU()
        return (0..<count).map { bytes.load(fromByteOffset: $0 * 4, as: UInt32.self) }
    }
}

/// Waits until `space` reports an error (work faults arrive asynchronously).
func awaitError(_ space: AddressSpace, timeoutNanoseconds: UInt64 = 10_000_000_000) -> MagmaError? {
    awaitError(space.connection, timeoutNanoseconds: timeoutNanoseconds)
}
