import Foundation
import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtio
import MagmaWire
import SoftGPU
import Testing

/// This guest's part in `scripts/vm/vhost-user-gpu-two-guests.sh`: QEMU guests at once on one
/// `magma-vhost-user-gpu` (one host SoftGPU device, a device model per guest). The script sets
/// MAGMA_TEST_GUEST_ROLE (holder, looker, hostile or worker) and the same MAGMA_TEST_SEED in each.
enum TwoGuestRole {
    static let role = getenv("MAGMA_TEST_GUEST_ROLE").map { String(cString: $0) }
    static let enabled = VirtGPUMagmaGuest.enabled && role != nil
    static let results = getenv("MAGMA_VM_RESULTS").map { String(cString: $0) } ?? "/run/magma-vm"
}

/// The holder puts a seeded secret in a buffer of its guest's RAM (the host GPU maps it at
/// `secretAddress` in its connection), says so with the file `holding` in its results share,
/// and keeps it there until the script creates `looked` (once the looker's run has ended);
/// then the secret must be intact, CPU and GPU. The looker, in another guest at the same time,
/// makes resources of its own (the same resource ids the holder's kernel gave, numbered from 1
/// in each guest) and never finds the secret in them, nor through its GPU at the holder's
/// address, and cannot name a resource it never made.
@Suite(.hangGuard, .enabled(if: TwoGuestRole.enabled, "runs in scripts/vm/vhost-user-gpu-two-guests.sh only"))
struct TwoGuestIsolationTests {
    static let second: UInt64 = 1_000_000_000
    static let secretBytes = 64 * 1024
    static let secretAddress: UInt64 = 0x10_0000

    /// The secret both guests derive from MAGMA_TEST_SEED.
    static func secret() -> [UInt8] {
        var random = SeededRandom(for: "two-guest secret")
        return (0..<secretBytes).map { _ in UInt8.random(in: 1...255, using: &random) }
    }

    func open() throws -> VirtGPUKernelDevice {
        let device = try VirtGPUKernelDevice(renderNode: try DRMTestEnvironment.device(driver: "virtio_gpu").renderNodePath)
        try device.initializeContext(capsetId: VirtioGPU.magmaCapsetId, ringCount: 1)
        return device
    }

    func reply(_ resource: any VirtGPUResource, _ slot: Int) -> GuestReplyArea {
        GuestReplyArea(resourceId: resource.resourceId, offset: UInt32(slot * 512), length: 512)
    }

    /// The status in reply slot `slot` (nil while none is written).
    func status(_ resource: any VirtGPUResource, _ slot: Int) throws -> MagmaStatus? {
        let offset = slot * 512
        let length = Int(UInt32(littleEndian: resource.mapping.load(fromByteOffset: offset, as: UInt32.self)))
        guard length > 0 else { return nil }
        let message = try VirtioContextProtocol.ServerMessage.decode(bytes: Array(resource.mapping[offset..<(offset + length)])).message
        guard case .statusReply(let reply) = message else { return nil }
        return reply.status
    }

    /// Submits `commands` fenced and waits (60 s at most) for the fence.
    func run(_ device: VirtGPUKernelDevice, _ commands: [VirtioContextCommand]) throws {
        let fence = try #require(try device.submit(try VirtioContextCommand.payload(commands), fenceOnRing: 0))
        #expect(device.wait(fence, timeoutNanoseconds: 60 * Self.second))
    }

    /// A command buffer resource holding `stream` (ended), made buffer `id`.
    func commandBuffer(_ device: VirtGPUKernelDevice, _ stream: CommandStream, id: UInt64, replies: any VirtGPUResource, slot: Int) throws -> (any VirtGPUResource, VirtioContextCommand, VirtioContextCommand) {
        var ended = stream
        ended.end()
        let resource = try device.createResource(size: 4096)
        UnsafeMutableRawBufferPointer(rebasing: resource.mapping[0..<ended.bytes.count]).copyBytes(from: ended.bytes)
        let create = VirtioContextCommand.virtio(.createBuffer(.init(resourceId: resource.resourceId, memoryType: 0, bufferId: id, reply: reply(replies, slot))))
        let execute = VirtioContextCommand.primary(.executeCommand(.init(
            contextId: 1, resources: [BufferRange(bufferId: id, offset: 0, length: UInt64(ended.bytes.count))],
            commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: [], signalSemaphores: [],
            flags: 0, waitTimelinePoints: [], signalTimelinePoints: [])))
        return (resource, create, execute)
    }

    @Test func theHolderKeepsItsSecretWhileAnotherGuestLooks() throws {
        guard TwoGuestRole.role == "holder" else { return }
        let secret = Self.secret()
        let device = try open()
        let replies = try device.createResource(size: 4096)
        let held = try device.createResource(size: Self.secretBytes)
        let copy = try device.createResource(size: Self.secretBytes)
        UnsafeMutableRawBufferPointer(rebasing: held.mapping[0..<Self.secretBytes]).copyBytes(from: secret)
        try run(device, [
            .virtio(.createBuffer(.init(resourceId: held.resourceId, memoryType: 0, bufferId: 10, reply: reply(replies, 0)))),
            .virtio(.createBuffer(.init(resourceId: copy.resourceId, memoryType: 0, bufferId: 11, reply: reply(replies, 1)))),
            .primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: Self.secretAddress, range: BufferRange(bufferId: 10, offset: 0, length: UInt64(Self.secretBytes)), flags: [.read, .write]))),
            .primary(.mapBuffer(.init(gpuAddress: 2 * Self.secretAddress, range: BufferRange(bufferId: 11, offset: 0, length: UInt64(Self.secretBytes)), flags: [.read, .write]))),
            .virtio(.flush(.init(reply: reply(replies, 2)))),
        ])
        #expect(try (0..<3).map { try status(replies, $0) } == [.ok, .ok, .ok])
        print("holder: the secret is in resource \(held.resourceId), at GPU address 0x\(String(Self.secretAddress, radix: 16))")
        FileManager.default.createFile(atPath: TwoGuestRole.results + "/holding", contents: Data("\(held.resourceId)\n".utf8))

        let deadline = Deadline(after: 240 * Self.second)
        while !FileManager.default.fileExists(atPath: TwoGuestRole.results + "/looked") {
            try #require(!deadline.hasPassed, "the script never said the looker had finished")
            usleep(100_000)
        }
        #expect(Array(held.mapping[0..<Self.secretBytes]) == secret, "the secret is intact in this guest's pages")
        var stream = CommandStream()
        stream.copy(from: Self.secretAddress, to: 2 * Self.secretAddress, size: UInt64(Self.secretBytes))
        let (buffer, create, execute) = try commandBuffer(device, stream, id: 12, replies: replies, slot: 3)
        try run(device, [create, execute, .virtio(.flush(.init(reply: reply(replies, 4))))])
        #expect(try status(replies, 4) == .ok)
        #expect(Array(copy.mapping[0..<Self.secretBytes]) == secret, "the host GPU still reads the secret from this guest's buffer")
        for resource in [buffer, copy, held, replies] { try device.release(resource) }
    }

    @Test func theLookerNeverSeesTheOtherGuestsSecret() throws {
        guard TwoGuestRole.role == "looker" else { return }
        let probe = Array(Self.secret()[0..<32])
        let device = try open()
        let replies = try device.createResource(size: 4096)
        // Resources of its own, numbered as the holder's were (each guest's kernel counts from 1).
        var mine: [any VirtGPUResource] = []
        for _ in 0..<8 { mine.append(try device.createResource(size: Self.secretBytes)) }
        print("looker: its resources are \(mine.map(\.resourceId))")
        for resource in mine {
            #expect(!Self.contains(resource.mapping, probe), "resource \(resource.resourceId) holds the other guest's secret")
        }
        // Its GPU at the holder's address: its own address space, where nothing is mapped there.
        let target = mine[0]
        var stream = CommandStream()
        stream.copy(from: Self.secretAddress, to: 2 * Self.secretAddress, size: UInt64(Self.secretBytes))
        let (buffer, create, execute) = try commandBuffer(device, stream, id: 21, replies: replies, slot: 1)
        try run(device, [
            .virtio(.createBuffer(.init(resourceId: target.resourceId, memoryType: 0, bufferId: 20, reply: reply(replies, 0)))),
            create,
            .primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: 2 * Self.secretAddress, range: BufferRange(bufferId: 20, offset: 0, length: UInt64(Self.secretBytes)), flags: [.read, .write]))),
            execute,
        ])   // the fence completes once the work has run (and faulted)
        #expect(try status(replies, 0) == .ok)
        try run(device, [.virtio(.flush(.init(reply: reply(replies, 2))))])
        #expect(try status(replies, 2) == .contextKilled, "a copy from an address its connection never mapped faults")
        #expect(!Self.contains(target.mapping, probe))
        for resource in [buffer, replies] + mine { try device.release(resource) }
        device.close()

        // A resource id its kernel never gave it, in a context of its own: refused.
        let other = try open()
        let otherReplies = try other.createResource(size: 4096)
        try run(other, [.virtio(.createBuffer(.init(resourceId: 4000, memoryType: 0, bufferId: 30, reply: reply(otherReplies, 0))))])
        #expect(try status(otherReplies, 0) == .invalidArgs)
        other.close()
    }

    /// A hostile guest beside the holder, bypassing what the kernel does not check (an
    /// EXECBUFFER's payload is opaque to it): seeded command lists naming resources, buffers,
    /// contexts and reply areas it has not or that do not exist, bad rings, then mutated (bytes
    /// flipped, cut short, garbage appended), 200 submissions over fresh opens. Every fenced one
    /// must complete (a context it broke answers, it never hangs); the guest's device must still
    /// run a verified fill afterwards. The holder's check after this run is the other half.
    @Test func theHostileGuestBreaksOnlyItsOwnContexts() throws {
        guard TwoGuestRole.role == "hostile" else { return }
        var random = SeededRandom(for: "hostile guest")
        var submitted = 0, refused = 0
        for _ in 0..<10 {
            let device = try open()
            let replies = try device.createResource(size: 4096)
            let other = try device.createResource(size: 2 * 4096)
            for _ in 0..<20 {
                var payload = try VirtioContextCommand.payload(Self.hostileCommands(&random, replies: replies.resourceId, other: other.resourceId))
                Self.mutate(&payload, &random)
                do {
                    if let fence = try device.submit(payload, fenceOnRing: random.next() % 4 == 0 ? nil : 0) {
                        #expect(device.wait(fence, timeoutNanoseconds: 60 * Self.second), "a fenced hostile submission completes")
                    }
                    submitted += 1
                } catch {
                    refused += 1   // the kernel's own checks (an empty payload, say)
                }
            }
            device.close()
        }
        print("hostile: \(submitted) submissions taken, \(refused) refused by the guest kernel")
        #expect(submitted > 0)
        let device = try open()
        let replies = try device.createResource(size: 4096)
        let target = try device.createResource(size: 4096)
        var stream = CommandStream()
        stream.fill(address: Self.secretAddress, size: 4096, pattern: 0x0BAD_0018)
        let (_, create, execute) = try commandBuffer(device, stream, id: 2, replies: replies, slot: 1)
        try run(device, [
            .virtio(.createBuffer(.init(resourceId: target.resourceId, memoryType: 0, bufferId: 1, reply: reply(replies, 0)))),
            create,
            .primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: Self.secretAddress, range: BufferRange(bufferId: 1, offset: 0, length: 4096), flags: [.read, .write]))),
            execute,
            .virtio(.flush(.init(reply: reply(replies, 2)))),
        ])
        #expect(try (0..<3).map { try status(replies, $0) } == [.ok, .ok, .ok])
        #expect((0..<1024).allSatisfy { target.mapping.load(fromByteOffset: $0 * 4, as: UInt32.self) == 0x0BAD_0018 })
        device.close()
    }

    /// One to four commands a hostile guest might send: ids and resources it never made,
    /// reply areas past their resource, a ring over a resource it never formatted, GPU work
    /// at addresses nothing maps.
    static func hostileCommands(_ random: inout SeededRandom, replies: UInt32, other: UInt32) -> [VirtioContextCommand] {
        func id() -> UInt64 { [0, 1, 2, 7, UInt64.max, random.next()][Int(random.next() % 6)] }
        func resource() -> UInt32 { [0, replies, other, 4000, UInt32.max][Int(random.next() % 5)] }
        func area() -> GuestReplyArea {
            GuestReplyArea(resourceId: resource(), offset: [0, 8, 4096, 8192, UInt32.max - 7][Int(random.next() % 5)],
                           length: [0, 64, 512, 4096, UInt32.max][Int(random.next() % 5)])
        }
        func command() -> VirtioContextCommand {
            switch random.next() % 8 {
            case 0: .virtio(.createBuffer(.init(resourceId: resource(), memoryType: UInt32(random.next() % 3), bufferId: id(), reply: area())))
            case 1: .virtio(.createRing(.init(kind: random.next() % 2 == 0 ? .creation : .queue, resourceId: resource(),
                                              offset: UInt32(random.next() % 8192), size: UInt32(random.next() % 65536), reply: area())))
            case 2: .virtio(.flush(.init(reply: area())))
            case 3: .virtio(.query(.init(queryId: QueryId(rawValue: random.next() % 600), answerArea: area(), reply: area())))
            case 4: .primary(.releaseObject(.init(objectId: id(), objectType: .buffer)))
            case 5: .primary(.createContext(.init(contextId: UInt32(truncatingIfNeeded: id()), priority: .medium, queueFamily: UInt32(random.next() % 4))))
            case 6: .primary(.mapBuffer(.init(gpuAddress: random.next() & ~0xFFF,
                                              range: BufferRange(bufferId: id(), offset: random.next() % 8192, length: random.next() % 65536),
                                              flags: [.read, .write])))
            default: .primary(.executeCommand(.init(contextId: UInt32(truncatingIfNeeded: id()),
                                                    resources: [BufferRange(bufferId: id(), offset: 0, length: random.next() % 4096)],
                                                    commandBuffers: [CommandBufferEntry(resourceIndex: UInt32(random.next() % 2), startOffset: random.next() % 4096)],
                                                    waitSemaphores: [], signalSemaphores: [], flags: 0, waitTimelinePoints: [], signalTimelinePoints: [])))
            }
        }
        return (0..<(1 + Int(random.next() % 4))).map { _ in command() }
    }

    /// Flips bytes, cuts the payload short or appends garbage (or leaves it whole).
    static func mutate(_ payload: inout [UInt8], _ random: inout SeededRandom) {
        switch random.next() % 4 {
        case 0: for _ in 0..<(1 + random.next() % 8) where !payload.isEmpty { payload[Int(random.next() % UInt64(payload.count))] ^= UInt8(1 << (random.next() % 8)) }
        case 1: payload.removeLast(Int(random.next() % UInt64(payload.count + 1)))
        case 2: payload += (0..<(1 + random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        default: break
        }
    }

    /// A third guest, killed by the script mid-work: it holds resources, buffers and a context
    /// on the host, says so (the file `working`), then loops over fenced fills until its QEMU
    /// is SIGKILLed. Reaching the loop's bound (240 s) fails it: the kill never came.
    @Test func theWorkerWorksUntilItsGuestIsKilled() throws {
        guard TwoGuestRole.role == "worker" else { return }
        let device = try open()
        let replies = try device.createResource(size: 4096)
        let target = try device.createResource(size: Self.secretBytes)
        var stream = CommandStream()
        stream.fill(address: Self.secretAddress, size: UInt64(Self.secretBytes), pattern: 0x5EED_0018)
        let (_, create, execute) = try commandBuffer(device, stream, id: 41, replies: replies, slot: 1)
        try run(device, [
            .virtio(.createBuffer(.init(resourceId: target.resourceId, memoryType: 0, bufferId: 40, reply: reply(replies, 0)))),
            create,
            .primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: Self.secretAddress, range: BufferRange(bufferId: 40, offset: 0, length: UInt64(Self.secretBytes)), flags: [.read, .write]))),
        ])
        #expect(try (0..<2).map { try status(replies, $0) } == [.ok, .ok])
        FileManager.default.createFile(atPath: TwoGuestRole.results + "/working", contents: nil)
        let deadline = Deadline(after: 240 * Self.second)
        var rounds = 0
        while !deadline.hasPassed {
            try run(device, [execute])
            rounds += 1
        }
        Issue.record("still working after \(rounds) fills: the script never killed this guest")
    }

    static func contains(_ memory: UnsafeMutableRawBufferPointer, _ probe: [UInt8]) -> Bool {
        guard memory.count >= probe.count else { return false }
        for start in 0...(memory.count - probe.count) where memory[start] == probe[0] {
            if probe.indices.allSatisfy({ memory[start + $0] == probe[$0] }) { return true }
        }
        return false
    }
}
