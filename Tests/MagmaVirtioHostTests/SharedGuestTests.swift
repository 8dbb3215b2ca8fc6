import Foundation
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtio
import MagmaVirtioHost
import MagmaWire
import Testing

/// One guest per process: each open of the virtio-gpu device is a context of the one guest
/// (one socket, one guest memory, one host device model), as in a VM.
@Suite("Devices of one guest are contexts of one device model", .hangGuard)
struct SharedGuestTests {
    static let page = SharedMemory.pageSize

    private func server(at path: String? = nil, limits: VirtioDeviceLimits = VirtioDeviceLimits()) throws -> VirtioSocketServer {
        let path = path ?? FileManager.default.temporaryDirectory.appending(path: "magma-shared-\(UUID().uuidString.prefix(8))").path
        let server = try VirtioSocketServer(path: path, device: try VirtioGuest.device(), limits: limits)
        try server.start()
        return server
    }

    /// An open of `guest` with its context made.
    private func open(_ guest: VirtGPUSocketGuest, rings: Int = 2) throws -> VirtGPUSocketDevice {
        let device = try VirtGPUSocketDevice(guest: guest)
        try device.initializeContext(capsetId: 7, ringCount: rings)
        return device
    }

    /// The status_reply the host wrote at `offset` of `resource`, if any.
    private func status(_ resource: any VirtGPUResource, offset: Int = 0) throws -> MagmaStatus? {
        let length = Int(resource.mapping.load(fromByteOffset: offset, as: UInt32.self).littleEndian)
        guard length >= MessageHeader.byteCount, length <= 512 else { return nil }
        guard case .statusReply(let reply) = try VirtioContextProtocol.ServerMessage.decode(
            bytes: Array(resource.mapping[offset..<(offset + length)])).message else { return nil }
        return reply.status
    }

    private func flush(_ device: VirtGPUSocketDevice, replyIn resource: any VirtGPUResource, offset: UInt32 = 0) throws -> any VirtGPUFence {
        let area = GuestReplyArea(resourceId: resource.resourceId, offset: offset, length: 512)
        return try #require(try device.submit(try VirtioContextCommand.payload([.virtio(.flush(.init(reply: area)))]), fenceOnRing: 0))
    }

    /// Waits, at most 10 s, for `condition` (a test fails rather than hangs; no timing is asserted).
    private func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = Deadline(after: 10_000_000_000)
        while !condition() {
            guard deadline.remainingNanoseconds > 0 else { return false }
            usleep(2_000)
        }
        return true
    }

    @Test func twoOpensOfOneGuestAreTwoContextsOfOneSession() throws {
        let server = try server()
        defer { server.stop() }
        let a = try VirtioGuests.open(path: server.path)
        let b = try VirtioGuests.open(path: server.path)
        #expect(a.guest === b.guest)
        #expect(a.contextId != b.contextId)
        try a.initializeContext(capsetId: 7, ringCount: 1)
        try b.initializeContext(capsetId: 7, ringCount: 1)
        #expect(server.guestCount == 1)
        #expect(server.guestCounts.map(\.contexts) == [2])
        // One RAM: b's resource comes from the pages a's left.
        let before = a.guest.freePages
        let resource = try b.createResource(size: 3 * Self.page)
        #expect(a.freePages == before - 3 && b.freePages == a.freePages)
        #expect(server.guestCounts.map(\.resources) == [1])
        try b.release(resource)
        #expect(a.freePages == before)
        // A private guest (init(path:)) is a session of its own.
        let own = try VirtGPUSocketDevice(path: server.path, memoryBytes: 1 << 20)
        #expect(own.guest !== a.guest)
        #expect(eventually { server.guestCount == 2 })
    }

    @Test func aContextCannotNameAnotherContextsResourceOfTheSameGuest() throws {
        let server = try server()
        defer { server.stop() }
        let guest = try VirtGPUSocketGuest(path: server.path, memoryBytes: 1 << 20)
        let a = try open(guest)
        let b = try open(guest)
        let aReplies = try a.createResource(size: Self.page)
        let bReplies = try b.createResource(size: Self.page)
        let watch = try #require(try b.submit(try VirtioContextCommand.payload([
            .virtio(.watchFailure(.init(reply: GuestReplyArea(resourceId: bReplies.resourceId, offset: 0, length: 512)))),
        ]), fenceOnRing: 1))
        // b names a's resource as its reply area: the host refuses it (not attached to b), b fails.
        _ = try flush(b, replyIn: aReplies)
        #expect(b.wait(watch, timeoutNanoseconds: 20_000_000_000))
        #expect(try status(bReplies) == .invalidArgs)
        #expect(aReplies.mapping.allSatisfy { $0 == 0 })
        // a is untouched and works.
        #expect(a.wait(try flush(a, replyIn: aReplies), timeoutNanoseconds: 20_000_000_000))
        #expect(try status(aReplies) == .ok)
        // Resources are the device's own: b cannot release a's.
        #expect(throws: MagmaError(.invalidArgs)) { try b.release(aReplies) }
    }

    @Test func closingOneDeviceFreesItsContextAndLeavesTheOtherWorking() throws {
        let server = try server()
        defer { server.stop() }
        let guest = try VirtGPUSocketGuest(path: server.path, memoryBytes: 1 << 20)
        let total = guest.freePages
        let a = try open(guest)
        let b = try open(guest)
        let aReplies = try a.createResource(size: Self.page)
        _ = try a.createResource(size: 2 * Self.page)
        let bReplies = try b.createResource(size: Self.page)
        let watch = try #require(try a.submit(try VirtioContextCommand.payload([
            .virtio(.watchFailure(.init(reply: GuestReplyArea(resourceId: aReplies.resourceId, offset: 0, length: 512)))),
        ]), fenceOnRing: 1))
        #expect(server.guestCounts.map { [$0.contexts, $0.resources] } == [[2, 3]])
        a.close()
        // Its pending fence completed (a waiter is not left to its timeout), its context and
        // resources are gone from the host, its pages are the guest's again.
        #expect(a.wait(watch, timeoutNanoseconds: 20_000_000_000))
        #expect(server.guestCounts.map { [$0.contexts, $0.resources] } == [[1, 1]])
        #expect(guest.freePages == total - 1)
        #expect(throws: MagmaError(.connectionLost)) { _ = try a.createResource(size: Self.page) }
        #expect(throws: MagmaError(.connectionLost)) { _ = try a.submit([], fenceOnRing: nil) }
        // b goes on in the same session.
        #expect(b.wait(try flush(b, replyIn: bReplies), timeoutNanoseconds: 20_000_000_000))
        #expect(try status(bReplies) == .ok)
        #expect(server.guestCount == 1 && guest.openDeviceCount == 1)
        // The last device's close ends the guest's session.
        b.close()
        #expect(eventually { server.guestCount == 0 })
        #expect(!guest.isUsable)
        #expect(throws: MagmaError(.connectionLost)) { _ = try VirtGPUSocketDevice(guest: guest) }
    }

    @Test func primeSharesAResourceBetweenOpensOfOneGuestOnly() throws {
        let server = try server()
        defer { server.stop() }
        let guest = try VirtGPUSocketGuest(path: server.path, memoryBytes: 1 << 20)
        let total = guest.freePages
        let a = try open(guest)
        let b = try open(guest)
        let shared = try a.createResource(size: 2 * Self.page)
        let bReplies = try b.createResource(size: Self.page)
        let imported = try b.importResource(try a.exportResource(shared))
        #expect(imported.resourceId == shared.resourceId && imported.mapping.baseAddress == shared.mapping.baseAddress)
        // b names it now (a reply area in it), and a's release leaves it to b: detached from a, not unreferenced.
        #expect(b.wait(try flush(b, replyIn: imported, offset: 512), timeoutNanoseconds: 20_000_000_000))
        #expect(try status(shared, offset: 512) == .ok)
        let again = try a.exportResource(shared)
        try a.release(shared)
        #expect(throws: MagmaError(.invalidArgs)) { _ = try a.exportResource(shared) }
        #expect(server.guestCounts.map(\.resources) == [2] && guest.freePages == total - 3)
        let watch = try #require(try a.submit(try VirtioContextCommand.payload([
            .virtio(.watchFailure(.init(reply: GuestReplyArea(resourceId: try a.createResource(size: Self.page).resourceId, offset: 0, length: 512)))),
        ]), fenceOnRing: 1))
        _ = try flush(a, replyIn: shared)   // detached from a: the host refuses it, a fails
        #expect(a.wait(watch, timeoutNanoseconds: 20_000_000_000))
        // Imported again into a: held twice by b is one more hold, released by the last.
        let twice = try b.importResource(again)
        try b.release(twice)
        #expect(b.wait(try flush(b, replyIn: imported), timeoutNanoseconds: 20_000_000_000))
        let last = try b.exportResource(imported)
        try b.release(imported)
        #expect(guest.freePages == total - 2)   // unreferenced: back to the guest (a's watch page, b's replies)
        #expect(throws: MagmaError(.invalidArgs)) { _ = try b.importResource(last) }
        // Another guest refuses this guest's descriptors; non-tokens are refused too.
        let stranger = try open(try VirtGPUSocketGuest(path: server.path, memoryBytes: 1 << 20))
        #expect(throws: MagmaError(.invalidArgs)) { _ = try stranger.importResource(try b.exportResource(bReplies)) }
        var pipe: [Int32] = [0, 0]
        #expect(Glibc.pipe(&pipe) == 0)
        close(pipe[1])
        #expect(throws: MagmaError(.invalidArgs)) { _ = try b.importResource(OwnedFileDescriptor(taking: pipe[0])) }
    }

    @Test func anExportedResourceIsItsMemoryAndOnlyItsGuestImportsIt() throws {
        let server = try server()
        defer { server.stop() }
        let guest = try VirtGPUSocketGuest(path: server.path, memoryBytes: 1 << 20)
        let a = try open(guest)
        let b = try open(guest)
        #expect(server.guestMemoryRegionCounts == [0])
        let resource = try a.createResource(size: 2 * Self.page)
        #expect(server.guestMemoryRegionCounts == [1])   // its own region
        resource.mapping.storeBytes(of: 0xC0FF_EE01 as UInt32, toByteOffset: Self.page, as: UInt32.self)
        // The descriptor maps (offset 0, shared) as the resource's bytes, both ways.
        let exported = try a.exportResource(resource)
        let mapped = try #require(mmap(nil, 2 * Self.page, PROT_READ | PROT_WRITE, MAP_SHARED, exported.rawValue, 0))
        #expect(mapped != MAP_FAILED)
        defer { munmap(mapped, 2 * Self.page) }
        #expect(mapped.load(fromByteOffset: Self.page, as: UInt32.self) == 0xC0FF_EE01)
        mapped.storeBytes(of: 0x5EED as UInt32, as: UInt32.self)
        #expect(resource.mapping.load(as: UInt32.self) == 0x5EED)
        // The host writes the same pages: a reply in the resource is in the descriptor's mapping.
        #expect(a.wait(try flush(a, replyIn: resource, offset: 512), timeoutNanoseconds: 20_000_000_000))
        #expect(try status(resource, offset: 512) == .ok && mapped.load(fromByteOffset: 512, as: UInt32.self) != 0)
        // Another open of the guest imports it as that resource; another guest, and memory that
        // is not a live resource of this guest (a sealed memfd of its own), are refused.
        let imported = try b.importResource(try a.exportResource(resource))
        #expect(imported === resource)
        let stranger = try open(try VirtGPUSocketGuest(path: server.path, memoryBytes: 1 << 20))
        #expect(throws: MagmaError(.invalidArgs)) { _ = try stranger.importResource(try a.exportResource(resource)) }
        let alien = try SharedMemory.create(size: 2 * Self.page)
        #expect(throws: MagmaError(.invalidArgs)) { _ = try b.importResource(try #require(alien.descriptor).duplicate()) }
        // The region goes with the last hold; the descriptor's memory lives on, imported by no one.
        try a.release(resource)
        #expect(server.guestMemoryRegionCounts.max() == 1)
        try b.release(imported)
        #expect(eventually { server.guestMemoryRegionCounts.max() == 0 })
        #expect(mapped.load(fromByteOffset: Self.page, as: UInt32.self) == 0xC0FF_EE01)
        #expect(throws: MagmaError(.invalidArgs)) { _ = try b.importResource(try exported.duplicate()) }
    }

    @Test func aGuestPastTheHostsRegionLimitGetsMemoryErrorAndGoesOn() throws {
        let server = try server(limits: VirtioDeviceLimits(maxMemoryRegions: 2))
        defer { server.stop() }
        let guest = try VirtGPUSocketGuest(path: server.path, memoryBytes: 1 << 20)
        let total = guest.freePages
        let device = try open(guest)
        let first = try device.createResource(size: Self.page)
        let second = try device.createResource(size: Self.page)
        #expect(throws: MagmaError(.memoryError)) { _ = try device.createResource(size: Self.page) }
        #expect(guest.freePages == total - 2 && server.guestCounts.map(\.resources) == [2])   // nothing of it kept
        try device.release(first)
        let third = try device.createResource(size: Self.page)
        #expect(device.wait(try flush(device, replyIn: third), timeoutNanoseconds: 20_000_000_000))
        #expect(try status(third) == .ok)
        try device.release(second)
        try device.release(third)
        #expect(guest.freePages == total && server.guestMemoryRegionCounts == [0])
    }

    @Test func aHungUpOrClosedGuestIsNotReused() throws {
        let first = try server()
        let path = first.path
        let old = try VirtioGuests.open(path: path)
        try old.initializeContext(capsetId: 7, ringCount: 1)
        #expect(VirtioGuests.guest(path: path) === old.guest)
        first.stop()   // the host hangs up on the guest
        #expect(eventually { !old.guest.isUsable })
        #expect(VirtioGuests.guest(path: path) == nil)
        let second = try server(at: path)
        defer { second.stop() }
        let fresh = try VirtioGuests.open(path: path)
        #expect(fresh.guest !== old.guest)
        #expect(try fresh.parameter(.supportedCapsetIds) == 1 << 7)
        #expect(throws: MagmaError.self) { _ = try old.parameter(.supportedCapsetIds) }
        // Once its last device closed, a guest is not reused either.
        let sibling = try VirtioGuests.open(path: path)
        #expect(sibling.guest === fresh.guest)
        fresh.close()
        sibling.close()
        let next = try VirtioGuests.open(path: path)
        #expect(next.guest !== fresh.guest)
        #expect(try next.parameter(.supportedCapsetIds) == 1 << 7)
    }
}
