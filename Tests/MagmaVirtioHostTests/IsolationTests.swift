import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtioHost
import MagmaWire
import Testing

@Suite("Contexts and guests never reach each other's objects or memory", .hangGuard)
struct IsolationTests {
    @Test func aContextCannotNameAResourceAttachedOnlyToAnother() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createContext(2)
        try guest.createResource(10, guestPage: 1, context: 1)
        try guest.createResource(20, guestPage: 2, context: 2)
        let watch = try guest.submit([.virtio(.watchFailure(.init(reply: area(20))))], context: 2, fenced: true, ring: 0)
        // Context 2 names context 1's resource as its reply area: refused, context 2 fails.
        try guest.submit([.virtio(.flush(.init(reply: area(10))))], context: 2)
        #expect(completes(watch))
        #expect(try guest.status(guestPage: 2) == .invalidArgs)
        #expect(guest.bytes[VirtioGuest.page] == 0)
        // Context 1 is fine; once detached, it cannot use its resource either.
        #expect(completes(try guest.submit([.virtio(.flush(.init(reply: area(10))))], context: 1, fenced: true, ring: 0)))
        #expect(try guest.status(guestPage: 1) == .ok)
        try guest.createResource(11, guestPage: 3, context: 1)
        try guest.ok(.contextDetachResource(resourceId: 10), context: 1)
        let watchOne = try guest.submit([.virtio(.watchFailure(.init(reply: area(11))))], context: 1, fenced: true, ring: 1)
        try guest.submit([.virtio(.flush(.init(reply: area(10, offset: 512))))], context: 1)
        #expect(completes(watchOne))
        #expect(try guest.status(guestPage: 3) == .invalidArgs)
    }

    @Test func idsArePerContext() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createContext(2)
        try guest.createResource(10, guestPage: 1, context: 1)
        try guest.createResource(20, guestPage: 2, context: 2)
        // The same guest ids in two contexts are two objects; signaling one does not signal the other.
        for context in UInt32(1)...2 { try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 7)))], context: context) }
        let one = try guest.submit([.virtio(.waitSemaphores(.init(semaphoreIds: [7], waitAll: true, reply: area(10))))], context: 1, fenced: true, ring: 0)
        let two = try guest.submit([.virtio(.waitSemaphores(.init(semaphoreIds: [7], waitAll: true, reply: area(20))))], context: 2, fenced: true, ring: 0)
        try guest.submit([.virtio(.signalSemaphore(.init(semaphoreId: 7)))], context: 1)
        #expect(completes(one))
        #expect(two?.isSignaled == false)
        // A used id fails the context that reuses it.
        let watch = try guest.submit([.virtio(.watchFailure(.init(reply: area(10, offset: 512))))], context: 1, fenced: true, ring: 1)
        try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 7)))], context: 1)
        #expect(completes(watch))
        #expect(try guest.status(guestPage: 1, offset: 512) == .invalidArgs)
        try guest.submit([.virtio(.signalSemaphore(.init(semaphoreId: 7)))], context: 2)
        #expect(completes(two))
    }

    @Test func aSecondGuestCannotNameTheFirstsResourcesNorSeeItsMemory() throws {
        let device = try VirtioGuest.device()
        let first = try VirtioGuest(device: device)
        let second = try VirtioGuest(device: device)
        try first.createContext(1)
        try first.createResource(10, guestPage: 5, context: 1)
        let secret = [UInt8](repeating: 0xA5, count: VirtioGuest.page)
        first.bytes[(5 * VirtioGuest.page)..<(6 * VirtioGuest.page)].copyBytes(from: secret)

        try second.createContext(1)
        #expect(try second.send(.contextAttachResource(resourceId: 10), context: 1).response == .error(.errorInvalidResourceId))
        #expect(try second.send(.resourceUnref(resourceId: 10)).response == .error(.errorInvalidResourceId))
        // The same guest addresses in the second guest are its own memory.
        try second.createResource(10, guestPage: 5, context: 1)
        #expect(completes(try second.submit([.virtio(.flush(.init(reply: area(10))))], context: 1, fenced: true, ring: 0)))
        #expect(try second.status(guestPage: 5) == .ok)
        #expect(!second.bytes.contains(0xA5))
        #expect(Array(first.bytes[(5 * VirtioGuest.page)..<(6 * VirtioGuest.page)]) == secret)
    }
}
