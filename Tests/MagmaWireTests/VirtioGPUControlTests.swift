import MagmaProtocol
import MagmaTestSupport
import MagmaWire
import Testing

@Suite("virtio-gpu control structs, the Magma capset and SUBMIT_3D payloads")
struct VirtioGPUControlTests {
    static let commands: [VirtioGPU.Command] = [
        .getCapsetInfo(index: 0), .getCapset(id: 7, version: 1),
        .contextCreate(contextInit: 7, debugName: Array("guest".utf8)), .contextDestroy,
        .contextAttachResource(resourceId: 3), .contextDetachResource(resourceId: 3),
        .resourceCreate3D(.buffer(id: 3, size: 8192)),
        .resourceAttachBacking(resourceId: 3, entries: [.init(address: 0x1000, length: 4096), .init(address: 0x9000, length: 4096)]),
        .resourceDetachBacking(resourceId: 3), .resourceUnref(resourceId: 3), .submit3D(commands: [1, 2, 3, 4, 5]),
        .resourceCreateBlob(.init(resourceId: 4, memory: VirtioGPU.Blob.memoryGuest, flags: 3, blobId: 0, size: 8192,
                                  entries: [.init(address: 0x2000, length: 8192)])),
    ]

    @Test func everyCommandRoundTripsWithItsHeader() throws {
        for command in Self.commands {
            let header = VirtioGPU.ControlHeader(type: 0, flags: VirtioGPU.flagFence | VirtioGPU.flagInfoRingIndex,
                                                 fenceId: 0x1122_3344_5566, contextId: 9, ringIndex: 5)
            let bytes = VirtioGPU.encode(header, command)
            let (decodedHeader, decoded) = try VirtioGPU.decodeCommand(bytes)
            #expect(decoded == command)
            #expect(decodedHeader.type == command.type && decodedHeader.fenceId == header.fenceId)
            #expect(decodedHeader.contextId == 9 && decodedHeader.ringIndex == 5 && decodedHeader.isFenced)
        }
    }

    /// Sizes from the spec's structs: the header is 24 bytes, ctx_create 96, resource_create_3d
    /// 72, attach_backing 32 + 16 per entry, submit_3d 32 + the payload.
    @Test func layoutsHaveTheSpecsSizes() {
        let header = VirtioGPU.ControlHeader(type: 0)
        #expect(VirtioGPU.encode(header, .contextDestroy).count == 24)
        #expect(VirtioGPU.encode(header, .contextCreate(contextInit: 7, debugName: [])).count == 96)
        #expect(VirtioGPU.encode(header, .resourceCreate3D(.buffer(id: 1, size: 1))).count == 72)
        #expect(VirtioGPU.encode(header, .resourceAttachBacking(resourceId: 1, entries: [.init(address: 0, length: 1)])).count == 48)
        #expect(VirtioGPU.encode(header, .submit3D(commands: [0, 0, 0, 0, 0, 0, 0, 0])).count == 40)
        #expect(VirtioGPU.encode(header, .resourceCreateBlob(.init(resourceId: 1, memory: 1, flags: 0, blobId: 0, size: 4096,
                                                                   entries: [.init(address: 0, length: 4096)]))).count == 56 + 16)
        let create = VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0, fenceId: 0x0102_0304_0506_0708, contextId: 0xAABB_CCDD, ringIndex: 7),
                                      .contextCreate(contextInit: 7, debugName: [0x41]))
        #expect(Array(create[0..<4]) == [0x00, 0x02, 0, 0])
        #expect(Array(create[8..<16]) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(Array(create[16..<21]) == [0xDD, 0xCC, 0xBB, 0xAA, 7])
        #expect(Array(create[24..<32]) == [1, 0, 0, 0, 7, 0, 0, 0])
        #expect(create[32] == 0x41)
    }

    @Test func responsesRoundTrip() throws {
        let responses: [VirtioGPU.Response] = [.okNoData, .okCapsetInfo(id: 7, maxVersion: 1, maxSize: 900),
                                               .okCapset(data: [9, 8, 7]), .error(.errorInvalidResourceId)]
        for response in responses {
            let bytes = VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0, fenceId: 4), response)
            let (header, decoded) = try VirtioGPU.decodeResponse(bytes)
            #expect(decoded == response && header.fenceId == 4)
        }
    }

    @Test func everyTruncationIsATypedError() {
        for command in Self.commands where command != .contextDestroy {
            let bytes = VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0), command)
            for length in 0..<bytes.count {
                #expect(throws: VirtioGPU.DecodeError.self) { _ = try VirtioGPU.decodeCommand(Array(bytes.prefix(length))) }
            }
        }
    }

    @Test func liesAboutCountsAreTypedErrors() throws {
        let header = VirtioGPU.ControlHeader(type: 0)
        var attach = VirtioGPU.encode(header, .resourceAttachBacking(resourceId: 1, entries: [.init(address: 0, length: 1)]))
        attach[28] = 0xFF; attach[29] = 0xFF; attach[30] = 0xFF; attach[31] = 0xFF
        #expect(throws: VirtioGPU.DecodeError.self) { _ = try VirtioGPU.decodeCommand(attach) }
        var submit = VirtioGPU.encode(header, .submit3D(commands: [1, 2]))
        submit[24] = 0xFF
        #expect(throws: VirtioGPU.DecodeError.self) { _ = try VirtioGPU.decodeCommand(submit) }
        var fences = VirtioGPU.encode(header, .submit3D(commands: []))
        fences[28] = 1
        #expect(throws: VirtioGPU.DecodeError.invalid("submit_3d carries 1 in-fences: fence passing is not offered")) {
            _ = try VirtioGPU.decodeCommand(fences)
        }
        var create = VirtioGPU.encode(header, .contextCreate(contextInit: 0, debugName: []))
        create[24] = 65
        #expect(throws: VirtioGPU.DecodeError.self) { _ = try VirtioGPU.decodeCommand(create) }
        #expect(try VirtioGPU.decodeCommand(VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0x0100), .unsupported(type: 0x0100))).1
            == .unsupported(type: 0x0100))
    }

    @Test func randomBytesNeverTrap() {
        var random = SeededRandom(for: "virtio control decoding")
        for _ in 0..<5000 {
            let type = [0x0102, 0x0106, 0x0108, 0x0109, 0x0200, 0x0204, 0x0207, 0x1100, 0x1102, 0x1103, 0x1203].randomElement(using: &random)!
            var bytes = (0..<Int.random(in: 0..<120, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            if bytes.count >= 4 { bytes[0] = UInt8(type & 0xFF); bytes[1] = UInt8(type >> 8); bytes[2] = 0; bytes[3] = 0 }
            _ = try? VirtioGPU.decodeCommand(bytes)
            _ = try? VirtioGPU.decodeResponse(bytes)
            _ = VirtioContextCommand.split(bytes)
            _ = try? VirtioMagmaCapset(decoding: bytes)
        }
    }

    @Test func theCapsetCarriesEveryDevicesDescription() throws {
        let device = PhysicalDeviceInfo(
            vendorId: 0x1AF4, deviceId: 0x10, driverVersion: 0x10002, name: "SoftGPU", driverName: "softgpu",
            limits: DeviceLimits(addressSpaceSize: 1 << 40, pageSize: 4096, maxAllocationSize: 1 << 30),
            memoryProperties: MemoryProperties(types: [MemoryType(propertyFlags: [.deviceLocal, .hostVisible], heapIndex: 0)],
                                               heaps: [MemoryHeap(size: 1 << 31, flags: [.deviceLocal])]),
            queueFamilies: [QueueFamily(flags: [.compute, .transfer], count: 4)])
        var second = device
        second.name = "second"
        let capset = VirtioMagmaCapset(protocolVersion: 1, syncCapabilities: [.binarySemaphores, .cpuWait],
                                       maxCommandBytes: 60000, devices: [device, second])
        let bytes = try capset.encoded()
        #expect(try VirtioMagmaCapset(decoding: bytes) == capset)
        for length in [0, 8, 24, bytes.count - 8] {
            #expect(throws: WireError.self) { _ = try VirtioMagmaCapset(decoding: Array(bytes.prefix(length))) }
        }
        #expect(throws: WireError.self) { _ = try VirtioMagmaCapset(decoding: bytes + [0, 0, 0, 0, 0, 0, 0, 0]) }
    }

    @Test func aPayloadSplitsIntoItsCommandsAndStopsAtTheFirstBadOne() throws {
        let commands: [VirtioContextCommand] = [
            .virtio(.createSemaphore(.init(semaphoreId: 5))),
            .primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0))),
            .virtio(.flush(.init(reply: GuestReplyArea(resourceId: 2, offset: 0, length: 64)))),
        ]
        let payload = try VirtioContextCommand.payload(commands)
        let split = VirtioContextCommand.split(payload)
        #expect(split.commands == commands && split.error == nil)

        let flowControl = try PrimaryProtocol.EnableFlowControl().encoded().bytes
        let refused = VirtioContextCommand.split(payload + flowControl)
        #expect(refused.commands == commands)
        #expect(refused.error == .unknownOrdinal(PrimaryProtocol.EnableFlowControl.ordinal))
        let cut = VirtioContextCommand.split(Array(payload.dropLast(8)))
        #expect(cut.commands.count == 2 && cut.error != nil)
    }
}
