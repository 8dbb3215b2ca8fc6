import Foundation
import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtioHost
import MagmaWire
import SystemPackage
import Testing

/// The guest's memory table over the socket emulation (`add_memory_region`,
/// `remove_memory_region`): the socket guest adds a region per resource, so a hostile guest's
/// regions are bounded, checked and removable without the host ever reading freed or
/// truncated memory.
@Suite("The socket emulation's memory regions: bounded, checked, removable while in use", .hangGuard)
struct MemoryRegionTests {
    static let page = SharedMemory.pageSize

    private func server(limits: VirtioDeviceLimits = VirtioDeviceLimits()) throws -> VirtioSocketServer {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-regions-\(UUID().uuidString.prefix(8))").path
        let server = try VirtioSocketServer(path: path, device: try VirtioGuest.device(), limits: limits)
        try server.start()
        return server
    }

    /// The answer to adding `descriptor` as `size` bytes at guest page `page`.
    private func add(_ guest: SocketGuest, page: Int, size: Int = SharedMemory.pageSize, _ descriptor: Int32) throws -> MagmaStatus? {
        let reply = try guest.call(VirtioSocketProtocol.AddMemoryRegion(guestAddress: UInt64(page * Self.page), size: UInt64(size),
                                                                        memory: WireHandle(FileDescriptor(rawValue: descriptor))))
        guard case .memoryRegionReply(let answer) = reply.message else { return nil }
        return answer.status
    }

    private func add(_ guest: SocketGuest, page: Int, _ memory: SharedMemory) throws -> MagmaStatus? {
        try add(guest, page: page, size: memory.size, try #require(memory.descriptor).rawValue)
    }

    private func remove(_ guest: SocketGuest, page: Int) throws -> MagmaStatus? {
        guard case .memoryRegionReply(let answer) = try guest.call(VirtioSocketProtocol.RemoveMemoryRegion(guestAddress: UInt64(page * Self.page))).message else {
            return nil
        }
        return answer.status
    }

    /// Whether the host still answers the guest (GET_CAPSET_INFO).
    private func served(_ guest: SocketGuest) throws -> Bool {
        if case .okCapsetInfo(7, _, _) = try guest.control(.getCapsetInfo(index: 0)).0 { return true }
        return false
    }

    @Test func aGuestPastItsRegionLimitGetsMemoryErrorAndIsStillServed() throws {
        let server = try server(limits: VirtioDeviceLimits(maxMemoryRegions: 3))
        defer { server.stop() }
        let guest = try SocketGuest(path: server.path)   // its RAM: region 1 of 3
        let memories = try (0..<3).map { _ in try SharedMemory.create(size: Self.page) }
        #expect(try add(guest, page: 100, memories[0]) == .ok)
        #expect(try add(guest, page: 101, memories[1]) == .ok)
        #expect(try add(guest, page: 102, memories[2]) == .memoryError)
        #expect(server.guestMemoryRegionCounts == [3])
        #expect(try served(guest))
        // A removed region makes room again.
        #expect(try remove(guest, page: 100) == .ok)
        #expect(try add(guest, page: 102, memories[2]) == .ok)
        #expect(server.guestMemoryRegionCounts == [3])
        // Another guest has limits of its own.
        let other = try SocketGuest(path: server.path)
        #expect(try add(other, page: 100, memories[0]) == .ok)
        #expect(server.guestMemoryRegionCounts.sorted() == [2, 3])
    }

    @Test func regionsThatAreNotSealedMemoryOrDoNotFitAreInvalidArgsAndTheGuestGoesOn() throws {
        let server = try server()
        defer { server.stop() }
        let guest = try SocketGuest(path: server.path, pages: 32)
        // Not a size-sealed memfd: a pipe, an eventfd, a regular file of the right size (which
        // the guest could truncate under the host's mapping).
        var pipe: [Int32] = [0, 0]
        #expect(Glibc.pipe(&pipe) == 0)
        defer { pipe.forEach { _ = close($0) } }
        #expect(try add(guest, page: 100, pipe[0]) == .invalidArgs)
        let event = try EventSemaphore()
        #expect(try add(guest, page: 100, event.descriptor.rawValue) == .invalidArgs)
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-region-file-\(UUID().uuidString.prefix(8))").path
        let file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        #expect(file >= 0 && ftruncate(file, off_t(Self.page)) == 0)
        defer { close(file); unlink(path) }
        #expect(try add(guest, page: 100, file) == .invalidArgs)
        // Sealed memory that does not fit: overlapping the guest's RAM, unaligned, larger than
        // its memfd, empty; and a removal where no region starts.
        let memory = try SharedMemory.create(size: 2 * Self.page)
        #expect(try add(guest, page: 31, memory) == .invalidArgs)
        let descriptor = try #require(memory.descriptor).rawValue
        let unaligned = try guest.call(VirtioSocketProtocol.AddMemoryRegion(guestAddress: UInt64(100 * Self.page + 8), size: UInt64(Self.page),
                                                                            memory: WireHandle(FileDescriptor(rawValue: descriptor))))
        guard case .memoryRegionReply(let answer) = unaligned.message else { Issue.record("\(unaligned.message)"); return }
        #expect(answer.status == .invalidArgs)
        #expect(try add(guest, page: 100, size: 3 * Self.page, descriptor) == .invalidArgs)
        #expect(try add(guest, page: 100, size: 0, descriptor) == .invalidArgs)
        #expect(try remove(guest, page: 100) == .invalidArgs)
        #expect(try remove(guest, page: 1) == .invalidArgs)   // inside the RAM region, not its start
        #expect(server.guestMemoryRegionCounts == [1])
        #expect(try served(guest))
        #expect(try add(guest, page: 100, memory) == .ok)
    }

    @Test func aRegionRemovedWhileTheHostUsesItsPagesStaysMappedForThatUseOnly() throws {
        let server = try server()
        defer { server.stop() }
        let guest = try SocketGuest(path: server.path)
        #expect(try guest.control(.contextCreate(contextInit: 7, debugName: []), context: 1).0 == .okNoData)
        // A resource backed by a region of its own, named by the context.
        let old = try SharedMemory.create(size: Self.page)
        #expect(try add(guest, page: 200, old) == .ok)
        #expect(try guest.control(.resourceCreate3D(.buffer(id: 10, size: UInt32(Self.page)))).0 == .okNoData)
        #expect(try guest.control(.resourceAttachBacking(resourceId: 10, entries: [.init(address: UInt64(200 * Self.page), length: UInt32(Self.page))])).0 == .okNoData)
        #expect(try guest.control(.contextAttachResource(resourceId: 10), context: 1).0 == .okNoData)
        // The guest removes the region while the resource still has it as its backing.
        #expect(try remove(guest, page: 200) == .ok)
        // Its addresses name nothing now: a new backing there is refused...
        #expect(try guest.control(.resourceCreate3D(.buffer(id: 11, size: UInt32(Self.page)))).0 == .okNoData)
        let entries = [VirtioGPU.MemoryEntry(address: UInt64(200 * Self.page), length: UInt32(Self.page))]
        #expect(try guest.control(.resourceAttachBacking(resourceId: 11, entries: entries)).0 == .error(.errorInvalidParameter))
        // ...but the resource's view still holds the old pages: a reply lands in the old memfd.
        let flush = try guest.submit([.virtio(.flush(.init(reply: area(10))))], context: 1, ring: 0)
        #expect(completes(flush))
        #expect(Self.status(in: old) == .ok)
        // A new region at the same addresses is new memory: what the old resource gets never
        // reaches it, and a resource backed by it is the new memfd's.
        let new = try SharedMemory.create(size: Self.page)
        #expect(try add(guest, page: 200, new) == .ok)
        #expect(try guest.control(.resourceAttachBacking(resourceId: 11, entries: entries)).0 == .okNoData)
        #expect(try guest.control(.contextAttachResource(resourceId: 11), context: 1).0 == .okNoData)
        old.base.storeBytes(of: 0, as: UInt32.self)
        #expect(completes(try guest.submit([.virtio(.flush(.init(reply: area(11))))], context: 1, ring: 0)))
        #expect(Self.status(in: new) == .ok && Self.status(in: old) == nil)
        // The resource goes; its region's removal is the guest's to send.
        #expect(try guest.control(.resourceUnref(resourceId: 10)).0 == .okNoData)
        #expect(try served(guest))
    }

    /// The status_reply the host wrote at the start of `memory`, if any.
    private static func status(in memory: SharedMemory) -> MagmaStatus? {
        let bytes = UnsafeRawBufferPointer(start: memory.base, count: memory.size)
        let length = Int(bytes.load(as: UInt32.self).littleEndian)
        guard length >= MessageHeader.byteCount, length <= 512,
              case .statusReply(let reply)? = try? VirtioContextProtocol.ServerMessage.decode(bytes: Array(bytes[0..<length])).message else { return nil }
        return reply.status
    }
}
