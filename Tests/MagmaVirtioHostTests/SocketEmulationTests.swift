import Foundation
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import MagmaVirtioHost
import MagmaWire
import Testing

/// A guest process's end of the socket emulation, by hand: its RAM shared as one region, then
/// control commands, each answered by control_response.
final class SocketGuest {
    static let page = SharedMemory.pageSize
    let socket: MessageSocket
    let ram: SharedMemory
    private var transaction: UInt32 = 1

    init(path: String, pages: Int = 32) throws {
        socket = try MessageSocket.connect(path: path)
        ram = try SharedMemory.create(size: pages * Self.page, name: "virtio-socket-guest")
        let reply = try call(VirtioSocketProtocol.AddMemoryRegion(guestAddress: 0, size: UInt64(ram.size), memory: WireHandle(try #require(ram.descriptor).fileDescriptor)))
        guard case .memoryRegionReply(let answer) = reply.message else { throw MagmaError.internalError("\(reply.message)") }
        #expect(answer.status == .ok)
    }

    var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: ram.base, count: ram.size) }

    func call<M: WireMessage>(_ message: M) throws -> (message: VirtioSocketProtocol.ServerMessage, descriptors: [OwnedFileDescriptor]) {
        transaction += 1
        let encoded = try message.encoded(transactionId: transaction)
        try socket.send(encoded.bytes, descriptors: encoded.handles.map(\.descriptor))
        guard case .message(let bytes, let descriptors, false)? = try socket.receive(capacity: 65536) else {
            throw MagmaError(.connectionLost, "the host closed the socket")
        }
        let received = try VirtioSocketProtocol.ServerMessage.decode(bytes: bytes, handles: descriptors.map { WireHandle($0.fileDescriptor) })
        #expect(received.header.transactionId == transaction)
        return (received.message, descriptors)
    }

    /// One control command: its response and, when fenced and accepted, the completion eventfd.
    func control(_ command: VirtioGPU.Command, context: UInt32 = 0, ring: UInt8? = nil) throws -> (VirtioGPU.Response, EventSemaphore?) {
        let flags = ring.map { _ in VirtioGPU.flagFence | VirtioGPU.flagInfoRingIndex } ?? 0
        let header = VirtioGPU.ControlHeader(type: 0, flags: flags, fenceId: UInt64(transaction), contextId: context, ringIndex: ring ?? 0)
        let (message, descriptors) = try call(VirtioSocketProtocol.Control(command: VirtioGPU.encode(header, command)))
        guard case .controlResponse(let answer) = message else { throw MagmaError.internalError("\(message)") }
        let completion = try descriptors.first.map { try EventSemaphore(importing: $0) }
        return (try VirtioGPU.decodeResponse(answer.response).1, completion)
    }

    func setUp(context: UInt32, resource: UInt32, guestPage: Int) throws {
        #expect(try control(.contextCreate(contextInit: 7, debugName: []), context: context).0 == .okNoData)
        #expect(try control(.resourceCreate3D(.buffer(id: resource, size: UInt32(Self.page)))).0 == .okNoData)
        #expect(try control(.resourceAttachBacking(resourceId: resource, entries: [
            .init(address: UInt64(guestPage * Self.page), length: UInt32(Self.page))])).0 == .okNoData)
        #expect(try control(.contextAttachResource(resourceId: resource), context: context).0 == .okNoData)
    }

    func submit(_ commands: [VirtioContextCommand], context: UInt32, ring: UInt8? = nil) throws -> EventSemaphore? {
        let (response, completion) = try control(.submit3D(commands: try VirtioContextCommand.payload(commands)), context: context, ring: ring)
        #expect(response == .okNoData)
        return completion
    }

    func status(guestPage: Int) throws -> MagmaStatus? {
        let start = guestPage * Self.page
        let length = Int(bytes.load(fromByteOffset: start, as: UInt32.self).littleEndian)
        guard length >= 24, length <= Self.page else { return nil }
        guard case .statusReply(let reply) = try VirtioContextProtocol.ServerMessage.decode(bytes: Array(bytes[start..<(start + length)])).message else { return nil }
        return reply.status
    }
}

@Suite("The socket emulation: guests over SOCK_SEQPACKET, each with its own device model", .hangGuard)
struct SocketEmulationTests {
    private func server() throws -> VirtioSocketServer {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-virtio-\(UUID().uuidString.prefix(8))").path
        let server = try VirtioSocketServer(path: path, device: try VirtioGuest.device())
        try server.start()
        return server
    }

    @Test func aGuestSharesItsMemoryAndWaitsForAFenceByItsEventfd() throws {
        let server = try server()
        defer { server.stop() }
        let guest = try SocketGuest(path: server.path)
        let (info, _) = try guest.control(.getCapsetInfo(index: 0))
        guard case .okCapsetInfo(7, 1, _) = info else { Issue.record("\(info)"); return }
        try guest.setUp(context: 1, resource: 10, guestPage: 2)
        #expect(try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 3)))], context: 1) == nil)
        let wait = try guest.submit([.virtio(.waitSemaphores(.init(semaphoreIds: [3], waitAll: false, reply: area(10))))], context: 1, ring: 0)
        #expect(wait != nil && wait?.isSignaled == false)
        _ = try guest.submit([.virtio(.signalSemaphore(.init(semaphoreId: 3)))], context: 1)
        #expect(completes(wait))
        #expect(try guest.status(guestPage: 2) == .ok)
    }

    @Test func aGuestThatBreaksTheProtocolOrLeavesIsDroppedAndTheOthersServed() throws {
        let server = try server()
        defer { server.stop() }
        let steady = try SocketGuest(path: server.path)
        try steady.setUp(context: 1, resource: 10, guestPage: 1)

        let leaving = try SocketGuest(path: server.path)
        try leaving.setUp(context: 1, resource: 10, guestPage: 1)
        _ = try leaving.submit([.virtio(.createSemaphore(.init(semaphoreId: 3)))], context: 1)
        let stuck = try leaving.submit([.virtio(.waitSemaphores(.init(semaphoreIds: [3], waitAll: true, reply: area(10))))], context: 1, ring: 0)
        leaving.socket.shutdown()
        // The host closes its model: the pending fence completes with CONNECTION_LOST.
        #expect(completes(stuck))
        #expect(try leaving.status(guestPage: 1) == .connectionLost)

        let breaking = try SocketGuest(path: server.path)
        try breaking.socket.send([1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try breaking.socket.receive(capacity: 64).map { if case .endOfStream = $0 { true } else { false } } == true)

        let flush = try steady.submit([.virtio(.flush(.init(reply: area(10))))], context: 1, ring: 0)
        #expect(completes(flush))
        #expect(try steady.status(guestPage: 1) == .ok)
    }

    @Test func twoGuestsUseTheSameIdsAndNeverMeet() throws {
        let server = try server()
        defer { server.stop() }
        let first = try SocketGuest(path: server.path)
        let second = try SocketGuest(path: server.path)
        for guest in [first, second] { try guest.setUp(context: 1, resource: 10, guestPage: 4) }
        for guest in [first, second] { _ = try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 1)))], context: 1) }
        let firstWait = try first.submit([.virtio(.waitSemaphores(.init(semaphoreIds: [1], waitAll: true, reply: area(10))))], context: 1, ring: 0)
        let secondWait = try second.submit([.virtio(.waitSemaphores(.init(semaphoreIds: [1], waitAll: true, reply: area(10))))], context: 1, ring: 0)
        _ = try first.submit([.virtio(.signalSemaphore(.init(semaphoreId: 1)))], context: 1)
        #expect(completes(firstWait))
        #expect(secondWait?.isSignaled == false)
        #expect(try second.status(guestPage: 4) == nil)
        #expect(server.guestCount == 2)
    }
}
