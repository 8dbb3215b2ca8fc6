import Foundation
@testable import Magma
@testable import MagmaPrimary
@testable import MagmaSocket
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaServer
import MagmaSystem
import MagmaTestSupport
import MagmaWire
import SoftGPU
import SystemPackage
import Testing

/// What only the socket transport has, against a real MagmaServer: its endpoints, trust, limits,
/// flow control and epitaphs. The behaviours both transports share (buffers, mappings,
/// execution, semaphores, faults, scheduling) run on both as tests parameterized over
/// `TestBackend`.
@Suite(.hangGuard) struct SocketTransportTests {
    @Test func queriesAnswerAsTheEmbeddedDevice() throws {
        let server = try TestServer()
        let device = try server.open()
        let embedded = try Device.open(.embedded)
        for query in [QueryId.vendorId, .deviceId, .vendorVersion, .isTotalTimeSupported, .maximumInflightParams] {
            #expect(try device.queryValue(query) == embedded.queryValue(query), "\(query)")
        }
        let time = try device.totalTime()
        #expect(time.monotonicTimeNanoseconds > 0)
        expectStatus(.invalidArgs) { _ = try device.query(QueryId(rawValue: 777)) }
        #expect(try device.queryValue(.vendorId) == SoftGPUIdentity.vendorId, "the device channel survives a failed query")
    }

    @Test func notificationsBeyondTheChannelsCapacityArriveInOrder() throws {
        let server = try TestServer()
        let session = try server.session()
        let (_, address) = try session.mappedBuffer(size: 4096)
        let done = try session.connection.createSemaphore()
        var stream = CommandStream()
        stream.fill(address: address, size: 4, pattern: 1)
        stream.end()
        let count = 3000   // far more completion notifications than the socket holds unread
        for index in 0..<count {   // one request each: a request of inline commands completes once
            try session.connection.executeInline(on: session.context, [InlineCommand(data: stream.bytes, semaphores: index == count - 1 ? [done.id] : [])])
        }
        try session.waitFor(done)
        var sequences: [UInt64] = []
        let deadline = Clock.monotonicNanoseconds() + 10_000_000_000
        while sequences.count < count, Clock.monotonicNanoseconds() < deadline {
            guard let message = try session.connection.readNotification() else {
                _ = try? Poll.wait([.notifications(session.connection)], timeoutNanoseconds: 100_000_000)
                continue
            }
            if case .completed(let sequence, _, _)? = SoftGPUNotification(bytes: message) { sequences.append(sequence) }
        }
        #expect(sequences == Array(1...UInt64(count)))
    }

    @Test func manyClientsAtOnceGetTheirOwnResults() throws {
        let server = try TestServer()
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 6) { client in
            do {
                let session = try server.session()
                let (buffer, address) = try session.mappedBuffer(size: 16 * 4096)
                for round in 0..<5 {
                    let pattern = UInt32(client << 16 | round)
                    try session.fill(address: address, size: 16 * 4096, pattern: pattern)
                    if try !buffer.u32s(16 * 1024).allSatisfy({ $0 == pattern }) { failures.withLock { $0.append("client \(client) round \(round)") } }
                }
            } catch {
                failures.withLock { $0.append("client \(client): \(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
    }

    @Test func socketClientsAreUntrusted() throws {
        let server = try TestServer()
        let connection = try server.open().createConnection()
        _ = try connection.createContext(priority: .high)
        expectStatus(.accessDenied) { try connection.flush() }
    }

    @Test func perConnectionLimitsOnObjectsAndBytes() throws {
        let server = try TestServer(connectionLimits: ConnectionLimits(maxObjects: 8, maxImportedBytes: 64 * 1024))
        let objects = try server.open().createConnection()
        for _ in 0..<8 { _ = try objects.createSemaphore() }
        try objects.flush()
        _ = try objects.createSemaphore()
        expectStatus(.memoryError) { try objects.flush() }

        let bytes = try server.open().createConnection()
        _ = try bytes.createBuffer(size: 64 * 1024)
        try bytes.flush()
        expectStatus(.memoryError) { _ = try bytes.createBuffer(size: 4096) }   // an import is a round trip
        expectStatus(.memoryError) { try bytes.flush() }
    }

    @Test func clientSideFlowControlKeepsWithinTheLimits() throws {
        let server = try TestServer(flowControl: FlowControlLimits(maxInflightMessages: 8, maxInflightMegabytes: 1))
        let device = try server.open()
        #expect(try device.queryValue(.maximumInflightParams) == 8 << 32 | 1)
        let connection = try device.createConnection()
        let transport = try #require(connection.primaryTransport as? SocketConnectionTransport)
        for _ in 0..<200 {
            _ = try connection.createSemaphore()
            let inflight = try #require(transport.inflight)
            #expect(inflight.messages <= 8)
        }
        var buffers: [Buffer] = []
        for _ in 0..<12 {   // 6 MiB of imports against a budget of 1 MiB
            buffers.append(try connection.createBuffer(size: 512 * 1024))
            #expect(try #require(transport.inflight).bytes <= 1 << 20)
        }
        try connection.flush()
        for buffer in buffers { try connection.release(buffer) }
        try connection.flush()
    }

    @Test func theServerReportsConsumedMessagesAndImportedMemory() throws {
        let server = try TestServer(flowControl: FlowControlLimits(maxInflightMessages: 8, maxInflightMegabytes: 1))
        let client = try RawClient(path: server.server.devicePath)
        try client.send(.enableFlowControl(.init()))
        for id in 1...12 { try client.send(.createContext(.init(contextId: UInt32(id)))) }
        let memory = try SharedMemory.create(size: 512 * 1024)
        try client.send(.importObject(.init(object: WireHandle(try #require(memory.descriptor).fileDescriptor), objectType: .buffer, objectId: 1, flags: [])))
        try client.send(.flush(.init()), transactionId: 5)
        var consumed: [UInt64] = []
        var imported: [UInt64] = []
        loop: while let message = try client.receive() {
            switch message {
            case .onNotifyMessagesConsumed(let event): consumed.append(event.count)
            case .onNotifyMemoryImported(let event): imported.append(event.bytes)
            case .flushReply: break loop
            default: Issue.record("unexpected \(message)")
            }
        }
        #expect(consumed == [4, 4, 4])      // every half of the 8-message budget
        #expect(imported == [512 * 1024])   // half of the 1 MiB budget reached
    }

    @Test func malformedMessagesAreAnsweredWithAnEpitaph() throws {
        let server = try TestServer()
        let garbage = try RawClient(path: server.server.devicePath)
        try garbage.primary.send([UInt8](repeating: 0xEE, count: 40))
        #expect(try garbage.epitaph() == .invalidArgs)
        #expect(try garbage.notification.receive(capacity: 64).map { if case .endOfStream = $0 { true } else { false } } == true)

        let pipeAsBuffer = try RawClient(path: server.server.devicePath)
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        try pipeAsBuffer.send(.importObject(.init(object: WireHandle(FileDescriptor(rawValue: pipeEnds[0])), objectType: .buffer, objectId: 1, flags: [])))
        close(pipeEnds[0]); close(pipeEnds[1])
        #expect(try pipeAsBuffer.epitaph() == .invalidArgs)

        let unknownOrdinal = try RawClient(path: server.server.devicePath)
        try unknownOrdinal.send(.createContext(.init(contextId: 1)))
        let flushReply = try PrimaryProtocol.FlushReply().encoded()   // a server message, sent the wrong way
        try unknownOrdinal.primary.send(flushReply.bytes)
        #expect(try unknownOrdinal.epitaph() == .invalidArgs)

        let session = try server.session()
        try session.connection.flush()
        // A connection leaves the count once its serve loop has released everything, a moment
        // after its client saw the epitaph.
        #expect(eventually { server.server.connectionCount == 1 }, "\(server.server.connectionCount) connections served")
    }

    @Test func performanceCounterAccessNeedsTheEndpointsToken() throws {
        let server = try TestServer()
        let connection = try server.open().createConnection()
        #expect(try connection.isPerformanceCounterAccessAllowed() == false)
        let stranger = try SharedMemory.create(size: 1)
        try connection.enablePerformanceCounterAccess(token: try #require(stranger.descriptor).duplicate())
        #expect(try connection.isPerformanceCounterAccessAllowed() == false)
        let token = try SocketDeviceTransport.performanceCounterToken(path: server.server.performanceCounterPath)
        try connection.enablePerformanceCounterAccess(token: token)
        #expect(try connection.isPerformanceCounterAccessAllowed() == true)

        let denied = try RawClient(path: server.server.devicePath)
        try denied.send(.enablePerformanceCounters(.init(counters: [1])))
        #expect(try denied.epitaph() == .accessDenied)
    }

    @Test func endpointPathsFollowOneLayout() {
        #expect(RuntimeDirectory.deviceEndpoint(in: "/run/m", name: "000") == "/run/m/gpu/000")
        #expect(RuntimeDirectory.performanceCounterEndpoint(besideDevice: "/run/m/gpu/000") == "/run/m/gpu-performance-counters/000")
        #expect(RuntimeDirectory.performanceCounterEndpoint(besideDevice: "/run/m/other/000") == nil)
        #expect(RuntimeDirectory.performanceCounterEndpoint(besideDevice: "000") == nil)
    }

    @Test func theEndpointsHaveTheirPermissions() throws {
        let server = try TestServer()
        let device = try FileManager.default.attributesOfItem(atPath: server.server.devicePath)
        let counters = try FileManager.default.attributesOfItem(atPath: server.server.performanceCounterPath)
        #expect((device[.posixPermissions] as? Int) == 0o666)
        #expect((counters[.posixPermissions] as? Int) == 0o600)
        let directory = try FileManager.default.attributesOfItem(atPath: "\(server.directory)/gpu-performance-counters")
        #expect((directory[.posixPermissions] as? Int) == 0o700)
    }

    @Test func aSecondServerCannotTakeTheEndpoint() throws {
        let server = try TestServer()
        let second = MagmaServer(device: try SystemDevice(driver: SoftGPUDriver()), configuration: .init(directory: server.directory))
        expectStatus(.badState) { try second.start() }
        #expect(try server.open().queryValue(.vendorId) == SoftGPUIdentity.vendorId)
    }
}
