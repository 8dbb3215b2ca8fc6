import MagmaDevices
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct ConnectionTests {
    let devices = TestDevices()

    @Test(.drmBackend(.runs), arguments: TestBackend.virtioCases) func connectionStartsHealthy(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        #expect(connection.error == nil)
        try connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func contextsCreateAndRelease(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let first = try connection.createContext()
        try connection.flush()
        let second = try connection.createContext(priority: .low)
        try connection.flush()
        #expect(first.id != second.id)
        try connection.release(first)
        try connection.flush()
        try connection.release(second)
        try connection.flush()
        // Already released: a typed error, and the connection is unharmed.
        expectStatus(.invalidArgs) { try connection.release(second) }
        try connection.flush()
    }

    /// Embedded only: socket clients are untrusted (SocketTransportTests checks they are refused).
    @Test func trustedInProcessClientsMayUseHighPriority() throws {
        let connection = try Device.open(.embedded).createConnection()
        _ = try connection.createContext(priority: .realtime)
        try connection.flush()
    }

    @Test(.drmBackend(.runs), arguments: TestBackend.virtioCases) func notificationDescriptorIsStable(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let handle = connection.notificationDescriptor
        #expect(handle.rawValue >= 0)
        #expect(connection.notificationDescriptor == handle)
    }

    @Test(.drmBackend(.runs), arguments: TestBackend.virtioCases) func readingAnEmptyNotificationChannelReturnsNothing(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        #expect(try connection.readNotification() == nil)
    }

    @Test(arguments: TestBackend.virtioCases) func completionNotificationsCountSubmissionsInOrder(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (_, address) = try session.mappedBuffer(size: 4096)
        for pattern in 1...3 as ClosedRange<UInt32> {
            var stream = CommandStream()
            stream.fill(address: address, size: 4096, pattern: pattern)
            try session.run(stream)
        }
        let sequences = try session.notifications().compactMap { notification -> UInt64? in
            if case .completed(let sequence, let status, _) = notification, status == 0 { return sequence }
            return nil
        }
        #expect(sequences == [1, 2, 3])
    }

    @Test(.drmBackend(.runs), arguments: TestBackend.virtioCases) func releasedConnectionRefusesRequests(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        connection.release()
        expectStatus(.badState) { try connection.flush() }
        expectStatus(.badState) { _ = try connection.createBuffer(size: 4096) }
        expectStatus(.badState) { _ = try connection.readNotification() }
        connection.release()  // idempotent
    }

    @Test(arguments: TestBackend.virtioCases) func objectsOfOneConnectionCannotBeUsedThroughAnother(_ backend: TestBackend) throws {
        let device = try devices.open(backend)
        let a = try device.createConnection()
        let b = try device.createConnection()
        let buffer = try a.createBuffer(size: 4096)
        let context = try a.createContext()
        let semaphore = try a.createSemaphore()
        expectStatus(.invalidArgs) { try b.map(buffer, at: 0x1000, flags: .read) }
        expectStatus(.invalidArgs) { try b.release(buffer) }
        expectStatus(.invalidArgs) { try b.release(context) }
        expectStatus(.invalidArgs) { try b.release(semaphore) }
        expectStatus(.invalidArgs) {
            try b.execute(on: context, CommandDescriptor(resources: [], commandBuffers: []))
        }
        try a.flush()
        try b.flush()
    }
}
