import CMagmaLinux
import Foundation
import Glibc
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaWire
import SoftGPU
import SystemPackage
import Testing

/// One attack on a real magmad: what a hostile client sends on its own connection, and the
/// status the daemon must close that connection with.
struct Attack: CustomStringConvertible, Sendable {
    let name: String
    let expected: MagmaStatus
    let run: @Sendable (RawClient) throws -> Void
    var description: String { name }
}

extension RawClient {
    func importMemory(id: UInt64, _ descriptor: FileDescriptor, type: ObjectType = .buffer, flags: ImportSemaphoreFlags = []) throws {
        try send(.importObject(.init(object: WireHandle(descriptor), objectType: type, objectId: id, flags: flags)))
    }

    func buffer(id: UInt64, pages: Int = 1) throws -> SharedMemory {
        let memory = try SharedMemory.create(size: pages * 4096)
        try importMemory(id: id, try #require(memory.descriptor).fileDescriptor)
        return memory
    }

    func semaphore(id: UInt64) throws {
        let event = try EventSemaphore()
        try importMemory(id: id, event.descriptor.fileDescriptor, type: .semaphore)
    }

    func map(_ id: UInt64, at address: UInt64, offset: UInt64 = 0, length: UInt64 = 4096, flags: MapFlags = [.read, .write]) throws {
        try send(.mapBuffer(.init(gpuAddress: address, range: BufferRange(bufferId: id, offset: offset, length: length), flags: flags)))
    }

    func execute(context: UInt32, resources: [BufferRange], entries: [CommandBufferEntry] = [CommandBufferEntry(resourceIndex: 0, startOffset: 0)],
                 waits: [UInt64] = [], signals: [UInt64] = []) throws {
        try send(.executeCommand(.init(contextId: context, resources: resources, commandBuffers: entries, waitSemaphores: waits,
                                       signalSemaphores: signals, flags: 0)))
    }

    /// Sends raw bytes (and descriptors) as one message.
    func raw(_ bytes: [UInt8], descriptors: [FileDescriptor] = []) throws { try primary.send(bytes, descriptors: descriptors) }

    /// Starts GPU work that spins on a flag until the watchdog stops it, using buffers 100-102;
    /// buffer 102 is a resource of the work, mapped at 0x300000.
    func holdTheEngine() throws -> [SharedMemory] {
        let code = try Assembler.assembleBytes(Kernels.spinUntilFlag)
        let program = try buffer(id: 100)
        program.base.copyMemory(from: code, byteCount: code.count)
        let flag = try buffer(id: 101)
        let held = try buffer(id: 102)
        try map(100, at: 0x100000, flags: [.read, .execute])
        try map(101, at: 0x200000)
        try map(102, at: 0x300000)
        var stream = CommandStream()
        stream.dispatch(programAddress: 0x100000, programSize: UInt32(code.count), workgroupCount: 1, workgroupSize: 1, arguments: [0x200000])
        let commands = try buffer(id: 103)
        commands.base.copyMemory(from: stream.bytes, byteCount: stream.bytes.count)
        try send(.createContext(.init(contextId: 1)))
        try execute(context: 1, resources: [BufferRange(bufferId: 103, offset: 0, length: 4096), BufferRange(bufferId: 102, offset: 0, length: 4096)])
        return [program, flag, held, commands]
    }
}

/// A message with one field rewritten, for the malformed-message attacks.
func patchedMessage(_ message: PrimaryProtocol.ClientMessage, at offset: Int, _ value: UInt32) throws -> [UInt8] {
    var bytes = try message.encoded().bytes
    withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<(offset + 4), with: $0) }
    return bytes
}

let hostileAttacks: [Attack] = [
    // Unknown and stale ids.
    Attack(name: "release an unknown buffer", expected: .invalidArgs) { try $0.send(.releaseObject(.init(objectId: 77, objectType: .buffer))) },
    Attack(name: "release an unknown semaphore", expected: .invalidArgs) { try $0.send(.releaseObject(.init(objectId: 77, objectType: .semaphore))) },
    Attack(name: "destroy an unknown context", expected: .invalidArgs) { try $0.send(.destroyContext(.init(contextId: 9))) },
    Attack(name: "release a buffer twice", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.send(.releaseObject(.init(objectId: 1, objectType: .buffer)))
        try client.send(.releaseObject(.init(objectId: 1, objectType: .buffer)))
    },
    Attack(name: "destroy a context twice", expected: .invalidArgs) { client in
        try client.send(.createContext(.init(contextId: 1)))
        try client.send(.destroyContext(.init(contextId: 1)))
        try client.send(.destroyContext(.init(contextId: 1)))
    },
    Attack(name: "create a context id twice", expected: .invalidArgs) { client in
        try client.send(.createContext(.init(contextId: 1)))
        try client.send(.createContext(.init(contextId: 1)))
    },
    Attack(name: "import a semaphore id twice", expected: .invalidArgs) { client in
        try client.semaphore(id: 5)
        try client.semaphore(id: 5)
    },
    Attack(name: "import buffer id 0", expected: .invalidArgs) { _ = try $0.buffer(id: 0) },
    Attack(name: "import semaphore id 0", expected: .invalidArgs) { try $0.semaphore(id: 0) },
    Attack(name: "reuse a buffer id for other memory", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 3)
        _ = try client.buffer(id: 3)
    },
    Attack(name: "execute on an unknown context", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.execute(context: 42, resources: [BufferRange(bufferId: 1, offset: 0, length: 4096)])
    },
    Attack(name: "execute with an unknown resource", expected: .invalidArgs) { client in
        try client.send(.createContext(.init(contextId: 1)))
        try client.execute(context: 1, resources: [BufferRange(bufferId: 66, offset: 0, length: 4096)])
    },
    Attack(name: "execute waiting on an unknown semaphore", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.send(.createContext(.init(contextId: 1)))
        try client.execute(context: 1, resources: [BufferRange(bufferId: 1, offset: 0, length: 4096)], waits: [88])
    },
    Attack(name: "command buffer resource index out of range", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.send(.createContext(.init(contextId: 1)))
        try client.execute(context: 1, resources: [BufferRange(bufferId: 1, offset: 0, length: 4096)],
                           entries: [CommandBufferEntry(resourceIndex: 3, startOffset: 0)])
    },
    Attack(name: "command buffer starting past its resource", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.send(.createContext(.init(contextId: 1)))
        try client.execute(context: 1, resources: [BufferRange(bufferId: 1, offset: 0, length: 64)],
                           entries: [CommandBufferEntry(resourceIndex: 0, startOffset: 4096)])
    },
    Attack(name: "resource offset + length overflowing", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.send(.createContext(.init(contextId: 1)))
        try client.execute(context: 1, resources: [BufferRange(bufferId: 1, offset: .max - 10, length: 4096)])
    },
    // Mappings.
    Attack(name: "map an unknown buffer", expected: .invalidArgs) { try $0.map(55, at: 0x100000) },
    Attack(name: "map at a misaligned address", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.map(1, at: 0x100010)
    },
    Attack(name: "map from a misaligned offset", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1, pages: 2)
        try client.map(1, at: 0x100000, offset: 100)
    },
    Attack(name: "map beyond the buffer", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.map(1, at: 0x100000, length: 8192)
    },
    Attack(name: "map with an overflowing offset + length", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.map(1, at: 0x100000, offset: 0xFFFF_FFFF_FFFF_F000, length: 0x2000)
    },
    Attack(name: "overlapping maps", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1, pages: 2)
        try client.map(1, at: 0x100000, length: 8192)
        try client.map(1, at: 0x101000, length: 4096)
    },
    Attack(name: "map granting no access", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.map(1, at: 0x100000, flags: [])
    },
    Attack(name: "map past the 48-bit address space", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.map(1, at: 1 << 48)
    },
    Attack(name: "unmap where nothing is mapped", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.send(.unmapBuffer(.init(gpuAddress: 0x900000, bufferId: 1)))
    },
    // In flight.
    Attack(name: "release a buffer in flight", expected: .badState) { client in
        _ = try client.holdTheEngine()
        try client.send(.releaseObject(.init(objectId: 102, objectType: .buffer)))
    },
    Attack(name: "unmap a buffer in flight", expected: .badState) { client in
        _ = try client.holdTheEngine()
        try client.send(.unmapBuffer(.init(gpuAddress: 0x300000, bufferId: 102)))
    },
    // Descriptors of the wrong kind.
    Attack(name: "a pipe as a buffer", expected: .invalidArgs) { client in
        var ends: [Int32] = [-1, -1]
        _ = pipe(&ends)
        defer { close(ends[0]); close(ends[1]) }
        try client.importMemory(id: 1, FileDescriptor(rawValue: ends[0]))
    },
    Attack(name: "an unsealed memfd as a buffer", expected: .invalidArgs) { client in
        let fd = memfdWithoutSeals()
        defer { close(fd) }
        try client.importMemory(id: 1, FileDescriptor(rawValue: fd))
    },
    Attack(name: "an eventfd as a buffer", expected: .invalidArgs) { client in
        let event = try EventSemaphore()
        try client.importMemory(id: 1, event.descriptor.fileDescriptor)
    },
    Attack(name: "a memfd as a semaphore", expected: .invalidArgs) { client in
        let memory = try SharedMemory.create(size: 4096)
        try client.importMemory(id: 1, try #require(memory.descriptor).fileDescriptor, type: .semaphore)
    },
    Attack(name: "a socket as a semaphore", expected: .invalidArgs) { client in
        let pair = try MessageSocket.pair()
        try client.importMemory(id: 1, pair.0.descriptor.fileDescriptor, type: .semaphore)
    },
    Attack(name: "buffer import flags", expected: .invalidArgs) { client in
        let memory = try SharedMemory.create(size: 4096)
        try client.importMemory(id: 1, try #require(memory.descriptor).fileDescriptor, flags: [.oneShot])
    },
    // Malformed messages.
    Attack(name: "a truncated message", expected: .invalidArgs) { try $0.raw([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) },
    Attack(name: "an oversized message", expected: .invalidArgs) { try $0.raw([UInt8](repeating: 0, count: 70_000)) },
    Attack(name: "an unknown ordinal", expected: .invalidArgs) { client in
        try client.raw(try patchedMessage(.flush(.init()), at: 4, 0x7777))
    },
    Attack(name: "a server message sent by the client", expected: .invalidArgs) { client in
        try client.raw(try PrimaryProtocol.FlushReply().encoded().bytes)
    },
    Attack(name: "a handle count that does not match", expected: .invalidArgs) { client in
        let memory = try SharedMemory.create(size: 4096)
        let bytes = try PrimaryProtocol.ImportObject(object: WireHandle(try #require(memory.descriptor).fileDescriptor), objectType: .buffer,
                                                     objectId: 1, flags: []).encoded().bytes
        try client.raw(bytes)   // the descriptor the header announces never comes
    },
    Attack(name: "sixty-four unsolicited descriptors", expected: .invalidArgs) { client in
        let events = try (0..<64).map { _ in try EventSemaphore() }
        try client.raw(try PrimaryProtocol.Flush().encoded().bytes, descriptors: events.map(\.descriptor.fileDescriptor))
    },
    Attack(name: "a hundred descriptors, past the protocol's sixty-four", expected: .invalidArgs) { client in
        let events = try (0..<100).map { _ in try EventSemaphore() }
        try client.raw(try PrimaryProtocol.Flush().encoded().bytes, descriptors: events.map(\.descriptor.fileDescriptor))
    },
    Attack(name: "a vector over its limit", expected: .invalidArgs) { client in
        let message = PrimaryProtocol.ClientMessage.enablePerformanceCounters(.init(counters: [1]))
        try client.raw(try patchedMessage(message, at: 24 + 4, 1000))
    },
    Attack(name: "a vector out of bounds", expected: .invalidArgs) { client in
        let message = PrimaryProtocol.ClientMessage.enablePerformanceCounters(.init(counters: [1]))
        try client.raw(try patchedMessage(message, at: 24, 8))
    },
    Attack(name: "an unknown object type", expected: .invalidArgs) { client in
        try client.raw(try patchedMessage(.releaseObject(.init(objectId: 1, objectType: .buffer)), at: 32, 99))
    },
    Attack(name: "an unknown wire format", expected: .invalidArgs) { client in
        var bytes = try PrimaryProtocol.Flush().encoded().bytes
        bytes[15] = 9
        try client.raw(bytes)
    },
    // Privileges.
    Attack(name: "a realtime context from an untrusted client", expected: .accessDenied) { client in
        try client.send(.createContext(.init(contextId: 1, priority: .realtime)))
    },
    Attack(name: "performance counters without the token", expected: .accessDenied) { client in
        try client.send(.enablePerformanceCounters(.init(counters: [1])))
    },
    Attack(name: "a performance-counter token that is not the device's", expected: .accessDenied) { client in
        let stranger = try SharedMemory.create(size: 4096)
        try client.send(.enablePerformanceCounterAccess(.init(accessToken: WireHandle(try #require(stranger.descriptor).fileDescriptor))))
        try client.send(.dumpPerformanceCounters(.init(poolId: 1, triggerId: 1)))
    },
    // Reaching other memory, and floods.
    Attack(name: "reading another connection's memory by GPU address", expected: .contextKilled) { client in
        // The bystander's buffer is mapped at 0x100_0000 in its own space; here nothing is.
        let target = try client.buffer(id: 1)
        _ = target
        try client.map(1, at: 0x4000_0000)
        var stream = CommandStream()
        stream.copy(from: 0x100_0000, to: 0x4000_0000, size: 4096)
        let commands = try client.buffer(id: 2)
        commands.base.copyMemory(from: stream.bytes, byteCount: stream.bytes.count)
        try client.send(.createContext(.init(contextId: 1)))
        try client.execute(context: 1, resources: [BufferRange(bufferId: 2, offset: 0, length: 4096)])
    },
    // The replies fill the channel, so the daemon drops the connection without room for an epitaph.
    Attack(name: "flushes flooded without reading the replies", expected: .connectionLost) { client in
        for _ in 0..<20_000 { try client.send(.flush(.init()), transactionId: 1) }
    },
] + timelineAttacks + bindAttacks

/// Creates a memfd whose size is not sealed.
func memfdWithoutSeals() -> Int32 {
    let fd = cmagma_memfd_create("unsealed")
    _ = ftruncate(fd, 4096)
    return fd
}

/// Every attack (the list above, the timeline and the bind ones) on one real magmad. Each must (a) close the attacker's connection with the
/// documented status, (b) leave a well-behaved client's results right, and (c) leave no object or
/// descriptor behind in the daemon.
@Suite(.serialized, .hangGuard) struct HostileClientTests {
    @Test func theAttackListIsLongEnough() {
        #expect(hostileAttacks.count >= 40)
        #expect(Set(hostileAttacks.map(\.name)).count == hostileAttacks.count)
    }

    @Test func everyAttackClosesOnlyTheAttackersConnection() throws {
        let daemon = try Daemon()
        let bystander = try GPUSession(device: try Device.open(.socket(daemon.devicePath)))
        let (target, address) = try bystander.mappedBuffer(size: 4096)
        try bystander.fill(address: address, size: 4096, pattern: 1)
        let baseline = settledDescriptorCount(pid: daemon.pid)
        for (index, attack) in hostileAttacks.enumerated() {
            let status: MagmaStatus? = try {
                let client = try RawClient(path: daemon.devicePath)
                try? attack.run(client)   // a send may fail once the daemon has closed the connection
                do {
                    return try client.epitaph() ?? .connectionLost   // closed without an epitaph: what the client reports
                } catch let error as MagmaError {
                    return error.status   // TIMED_OUT: the daemon kept the attacker's connection open
                }
            }()   // the attacker is gone here: its channels are closed
            #expect(status == attack.expected, "\(attack.name)")
            let pattern = UInt32(1000 + index)
            try bystander.fill(address: address, size: 4096, pattern: pattern)
            #expect(try target.u32s(1024).allSatisfy { $0 == pattern }, "bystander after \(attack.name)")
            #expect(descriptorsReturn(to: baseline, pid: daemon.pid), "descriptors after \(attack.name): \(openDescriptorCount(pid: daemon.pid)), baseline \(baseline)")
        }
        #expect(daemon.stop() == 0)
    }
}
