import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtioHost
import MagmaWire
import Testing

@Suite("A hostile guest gets error responses and fails only itself", .hangGuard)
struct HostileGuestTests {
    @Test func malformedCommandsGetErrorResponsesAndTheModelServesOn() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        var random = SeededRandom(for: "hostile virtio commands")
        let types: [UInt32] = [0x0102, 0x0106, 0x0107, 0x0108, 0x0109, 0x0200, 0x0201, 0x0202, 0x0203, 0x0204, 0x0207, 0x0100, 0x0300, 0xFFFF]
        for _ in 0..<3000 {
            var bytes = (0..<Int.random(in: 0..<160, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            if bytes.count >= 4 {
                let type = types.randomElement(using: &random)!
                bytes[0] = UInt8(type & 0xFF); bytes[1] = UInt8(type >> 8); bytes[2] = 0; bytes[3] = 0
            }
            if bytes.count >= 20, Bool.random(using: &random) { bytes[16] = 1; bytes[17] = 0; bytes[18] = 0; bytes[19] = 0 }
            let result = guest.model.perform(bytes)
            #expect(throws: Never.self) { _ = try VirtioGPU.decodeResponse(result.response) }
        }
        // Context 1 may have been failed or destroyed by what it was sent; the model still serves.
        try guest.createContext(500)
        try guest.createResource(900, guestPage: 40, context: 500)
        #expect(completes(try guest.submit([.virtio(.flush(.init(reply: area(900))))], context: 500, fenced: true, ring: 3)))
        #expect(try guest.status(guestPage: 40) == .ok)
    }

    @Test func truncatedCommandsAreInvalidParameters() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        let create = VirtioGPU.encode(VirtioGPU.ControlHeader(type: 0, contextId: 3), .contextCreate(contextInit: 7, debugName: []))
        for length in [0, 10, 24, 40, 95] {
            #expect(try guest.raw(Array(create.prefix(length))).response == .error(.errorInvalidParameter))
        }
        #expect(guest.model.counts.contexts == 0)
        #expect(try guest.send(.unsupported(type: 0x0100)).response == .error(.errorUnspecified))
    }

    @Test func backingOutsideGuestMemoryOverlappingOrOfTheWrongSizeIsRefused() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device(), pages: 16)
        let page = UInt64(VirtioGuest.page)
        try guest.ok(.resourceCreate3D(.buffer(id: 1, size: UInt32(2 * page))))
        let refused: [[VirtioGPU.MemoryEntry]] = [
            [.init(address: 15 * page, length: UInt32(2 * page))],                                  // runs past the RAM
            [.init(address: 1 << 40, length: UInt32(2 * page))],                                    // no region there
            [.init(address: 2 * page, length: UInt32(page)), .init(address: 2 * page, length: UInt32(page))], // overlapping
            [.init(address: 2 * page + 8, length: UInt32(2 * page))],                               // unaligned
            [.init(address: 2 * page, length: UInt32(page))],                                       // smaller than the resource
            [.init(address: 0xFFFF_FFFF_FFFF_F000, length: UInt32(2 * page))],                      // overflows
            [],
        ]
        for entries in refused {
            #expect(try guest.send(.resourceAttachBacking(resourceId: 1, entries: entries)).response == .error(.errorInvalidParameter))
        }
        #expect(try guest.send(.resourceAttachBacking(resourceId: 2, entries: [.init(address: 0, length: UInt32(page))])).response
            == .error(.errorInvalidResourceId))
        // Scattered pages, in any order, are fine.
        try guest.ok(.resourceAttachBacking(resourceId: 1, entries: [.init(address: 9 * page, length: UInt32(page)), .init(address: 3 * page, length: UInt32(page))]))
        #expect(try guest.send(.resourceAttachBacking(resourceId: 1, entries: [.init(address: 0, length: UInt32(2 * page))])).response
            == .error(.errorInvalidParameter))
        // Resources that are not buffers, or not whole pages, are refused.
        var image = VirtioGPU.Resource3D.buffer(id: 5, size: UInt32(page))
        image.target = 2
        image.height = 64
        #expect(try guest.send(.resourceCreate3D(image)).response == .error(.errorInvalidParameter))
        #expect(try guest.send(.resourceCreate3D(.buffer(id: 6, size: 100))).response == .error(.errorInvalidParameter))
        #expect(try guest.send(.resourceCreate3D(.buffer(id: 1, size: UInt32(page)))).response == .error(.errorInvalidResourceId))
        try guest.ok(.resourceUnref(resourceId: 1))
        #expect(try guest.send(.resourceUnref(resourceId: 1)).response == .error(.errorInvalidResourceId))
    }

    @Test func guestBlobsAreResourcesWithTheirBackingAndHostBlobsAreRefused() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device(), pages: 16)
        let page = UInt64(VirtioGuest.page)
        func blob(_ id: UInt32, memory: UInt32 = VirtioGPU.Blob.memoryGuest, blobId: UInt64 = 0, size: UInt64,
                  _ entries: [VirtioGPU.MemoryEntry]) -> VirtioGPU.Command {
            .resourceCreateBlob(.init(resourceId: id, memory: memory, flags: 1, blobId: blobId, size: size, entries: entries))
        }
        let two = [VirtioGPU.MemoryEntry(address: 7 * page, length: UInt32(page)), .init(address: 2 * page, length: UInt32(page))]
        #expect(try guest.send(blob(1, memory: VirtioGPU.Blob.memoryHost3D, blobId: 5, size: 2 * page, [])).response == .error(.errorInvalidParameter))
        #expect(try guest.send(blob(1, size: 3 * page, two)).response == .error(.errorInvalidParameter))          // size differs
        #expect(try guest.send(blob(1, size: 2 * page, [two[0], two[0]])).response == .error(.errorInvalidParameter))  // overlapping
        #expect(try guest.send(blob(1, size: 2 * page, [.init(address: 40 * page, length: UInt32(2 * page))])).response
            == .error(.errorInvalidParameter))                                                                      // outside memory
        #expect(guest.model.counts.resources == 0)
        try guest.ok(blob(1, size: 2 * page, two))
        #expect(try guest.send(blob(1, size: 2 * page, two)).response == .error(.errorInvalidResourceId))
        // It is a resource like any other: attached, it holds a context's replies.
        try guest.createContext(1)
        try guest.ok(.contextAttachResource(resourceId: 1), context: 1)
        #expect(completes(try guest.submit([.virtio(.flush(.init(reply: area(1))))], context: 1, fenced: true, ring: 0)))
        #expect(try guest.status(guestPage: 7) == .ok)
    }

    @Test func limitsBoundWhatAGuestHolds() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device(), limits: VirtioDeviceLimits(maxContexts: 2, maxResources: 3))
        try guest.createContext(1)
        try guest.createContext(2)
        #expect(try guest.send(.contextCreate(contextInit: 7, debugName: []), context: 3).response == .error(.errorOutOfMemory))
        for id in UInt32(1)...3 { try guest.ok(.resourceCreate3D(.buffer(id: id, size: UInt32(VirtioGuest.page)))) }
        #expect(try guest.send(.resourceCreate3D(.buffer(id: 4, size: UInt32(VirtioGuest.page)))).response == .error(.errorOutOfMemory))
    }

    @Test func fencesThatNeverCompleteAreBounded() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device(), limits: VirtioDeviceLimits(maxPendingFences: 4))
        try guest.createContext(1)
        try guest.createResource(10, guestPage: 1, context: 1)
        try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 1)))], context: 1)
        let wait = try VirtioContextCommand.payload([.virtio(.waitSemaphores(.init(semaphoreIds: [1], waitAll: true, reply: area(10))))])
        let stuck = try (0..<4).map { _ in try guest.send(.submit3D(commands: wait), context: 1, fenced: true, ring: 0).completion }
        #expect(stuck.allSatisfy { $0 != nil })
        #expect(try guest.send(.submit3D(commands: wait), context: 1, fenced: true, ring: 0).response == .error(.errorOutOfMemory))
        try guest.submit([.virtio(.signalSemaphore(.init(semaphoreId: 1)))], context: 1)
        #expect(stuck.allSatisfy { completes($0) })
        #expect(completes(try guest.submit([], context: 1, fenced: true, ring: 0)))
    }

    @Test func aGuestThatVanishesMidSubmissionIsCleanedUpAndTheOtherServed() throws {
        let device = try VirtioGuest.device()
        let leaving = try VirtioGuest(device: device)
        let staying = try VirtioGuest(device: device)
        for guest in [leaving, staying] {
            try guest.createContext(1)
            try guest.createResource(10, guestPage: 1, context: 1)
        }
        try leaving.submit([.virtio(.createSemaphore(.init(semaphoreId: 5)))], context: 1)
        let stuck = try leaving.submit([.virtio(.waitSemaphores(.init(semaphoreIds: [5], waitAll: true, reply: area(10))))],
                                       context: 1, fenced: true, ring: 0)
        #expect(stuck?.isSignaled == false)
        leaving.model.close()
        #expect(completes(stuck))
        #expect(try leaving.status(guestPage: 1) == .connectionLost)
        #expect(leaving.model.counts.contexts == 0 && leaving.model.counts.resources == 0 && leaving.model.counts.pendingFences == 0)
        #expect(try leaving.send(.getCapsetInfo(index: 0)).response == .error(.errorUnspecified))
        #expect(completes(try staying.submit([.virtio(.flush(.init(reply: area(10))))], context: 1, fenced: true, ring: 0)))
        #expect(try staying.status(guestPage: 1) == .ok)
    }

    @Test func aReplyAreaOutsideItsResourceOrTooSmallFailsTheContext() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createResource(10, guestPage: 1, context: 1)
        try guest.createResource(11, guestPage: 2, context: 1)
        let watch = try guest.submit([.virtio(.watchFailure(.init(reply: area(11))))], context: 1, fenced: true, ring: 0)
        let page = UInt32(VirtioGuest.page)
        try guest.submit([.virtio(.flush(.init(reply: GuestReplyArea(resourceId: 10, offset: page - 8, length: 512))))], context: 1)
        #expect(completes(watch))
        #expect(try guest.status(guestPage: 2) == .invalidArgs)

        try guest.createContext(2)
        try guest.createResource(20, guestPage: 3, context: 2)
        try guest.createResource(21, guestPage: 4, context: 2)
        let secondWatch = try guest.submit([.virtio(.watchFailure(.init(reply: area(21))))], context: 2, fenced: true, ring: 0)
        try guest.submit([.virtio(.flush(.init(reply: GuestReplyArea(resourceId: 20, offset: 0, length: 16))))], context: 2)
        #expect(completes(secondWatch))
        #expect(try guest.status(guestPage: 4) == .invalidArgs)
        #expect(guest.bytes[3 * VirtioGuest.page] == 0)   // nothing was written into the too-small area
    }
}
