import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaTestSupport
import Testing

/// Buffers and semaphores are the driver's objects: made at import, handed back in mappings and
/// submissions, and released exactly once when MagmaSystem drops its last reference, on every
/// path.
@Suite(.hangGuard) struct DriverObjectReleaseTests {
    let driver = RecordingDriver()
    let sink = RecordingSink()
    let device: SystemDevice

    init() throws { device = try SystemDevice(driver: driver) }

    func memory() throws -> SharedMemory { try SharedMemory.create(size: 4096) }

    @Test func theLastImportsReleaseReleasesTheDriversBufferOnce() throws {
        let connection = try device.openConnection(trust: .untrusted, sink: sink)
        let shared = try memory()
        connection.importBuffer(id: 7, memory: shared)
        connection.importBuffer(id: 7, memory: try SharedMemory.importing(try #require(shared.descriptor).duplicate()))
        #expect(driver.bufferReleases == [0], "a second import of the same memory reuses the driver's buffer")
        connection.releaseBuffer(id: 7)
        #expect(driver.bufferReleases == [0])
        connection.releaseBuffer(id: 7)
        #expect(driver.bufferReleases == [1])
        connection.close()
        #expect(driver.bufferReleases == [1], "closing does not release it again")
        #expect(connection.flush() == nil)
    }

    @Test func aBufferStillMappedIsUnmappedBeforeItsRelease() throws {
        let connection = try device.openConnection(trust: .untrusted, sink: sink)
        connection.importBuffer(id: 7, memory: try SharedMemory.create(size: 8192))
        connection.mapBuffer(gpuAddress: 0x10000, bufferId: 7, offset: 0, length: 4096, flags: .read)
        connection.mapBuffer(gpuAddress: 0x20000, bufferId: 7, offset: 4096, length: 4096, flags: .read)
        let mapped = driver.log.withLock { $0.buffers.first }
        connection.releaseBuffer(id: 7)
        #expect(Set(driver.log.withLock { $0.drops.prefix(2) }) == ["unmap 0x10000", "unmap 0x20000"])
        #expect(driver.log.withLock { $0.drops.dropFirst(2) } == ["release buffer 7"])
        #expect(driver.bufferReleases == [1])
        #expect(mapped != nil)
        connection.close()
        #expect(driver.bufferReleases == [1])
        #expect(connection.flush() == nil)
    }

    @Test func semaphoresAreReleasedOnceWhetherReleasedOrClosed() throws {
        let connection = try device.openConnection(trust: .untrusted, sink: sink)
        connection.importSemaphore(id: 3, event: try EventSemaphore(), flags: [])
        connection.importSemaphore(id: 4, event: try EventSemaphore(), flags: .oneShot)
        connection.releaseSemaphore(id: 3)
        #expect(driver.semaphoreReleases == [1, 0])
        connection.close()
        connection.close()
        #expect(driver.semaphoreReleases == [1, 1])
    }

    @Test func closingReleasesTheConnectionThenEveryObjectOnce() throws {
        let connection = try device.openConnection(trust: .untrusted, sink: sink)
        connection.importBuffer(id: 1, memory: try memory())
        connection.importBuffer(id: 2, memory: try memory())
        connection.importSemaphore(id: 3, event: try EventSemaphore(), flags: [])
        connection.mapBuffer(gpuAddress: 0x10000, bufferId: 1, offset: 0, length: 4096, flags: .read)
        connection.createContext(id: 1, priority: .medium)
        connection.executeCommand(contextId: 1, descriptor: CommandDescriptor(
            resources: [BufferRange(bufferId: 2, offset: 0, length: 4096)], commandBuffers: [], waitSemaphores: [3]))
        connection.close()
        let drops = driver.log.withLock { $0.drops }
        #expect(drops.first == "release connection", "the address space goes with the connection, before the objects")
        #expect(Set(drops.dropFirst()) == ["release buffer 1", "release buffer 2", "release semaphore 3"])
        #expect(driver.bufferReleases == [1, 1])
        #expect(driver.semaphoreReleases == [1])
        // The driver still holds the work, with its buffer and semaphore; completing it releases
        // nothing again.
        let work = try #require(driver.log.withLock { $0.submitted.first })
        #expect(work.waitSemaphores.first === driver.log.withLock { $0.semaphores.first })
        driver.completeNext(.contextKilled)
        #expect(driver.bufferReleases == [1, 1])
        #expect(driver.semaphoreReleases == [1])
    }

    @Test func aFailedRequestReleasesWhatTheConnectionHeld() throws {
        let connection = try device.openConnection(trust: .untrusted, sink: sink)
        connection.importBuffer(id: 1, memory: try memory())
        connection.importSemaphore(id: 2, event: try EventSemaphore(), flags: [])
        connection.releaseBuffer(id: 99)
        #expect(connection.flush()?.status == .invalidArgs)
        #expect(driver.bufferReleases == [1])
        #expect(driver.semaphoreReleases == [1])
        connection.close()
        #expect(driver.bufferReleases == [1])
        #expect(driver.semaphoreReleases == [1])
    }

    @Test func anImportTheDriverRefusesLeavesNothingToRelease() throws {
        let connection = try device.openConnection(trust: .untrusted, sink: sink)
        connection.importBuffer(id: 1, memory: try memory())
        driver.log.withLock { $0.importFailure = .memoryError("the driver is out of buffer objects") }
        connection.importBuffer(id: 2, memory: try memory())
        #expect(connection.flush()?.status == .memoryError)
        #expect(driver.log.withLock { $0.buffers.map(\.id) } == [1], "the refused import made nothing")
        #expect(driver.bufferReleases == [1], "what was imported before is released with the connection")
        driver.log.withLock { $0.importFailure = nil }
        let other = try device.openConnection(trust: .untrusted, sink: RecordingSink())
        driver.log.withLock { $0.importFailure = .memoryError("no semaphores either") }
        other.importSemaphore(id: 1, event: try EventSemaphore(), flags: [])
        #expect(other.flush()?.status == .memoryError)
        #expect(driver.log.withLock { $0.semaphores.isEmpty })
    }

    @Test func anImportRejectedAfterTheDriverMadeItsObjectIsReleasedOnce() throws {
        // The descriptor limit is checked once the request has run: the driver has already
        // made the semaphore that passes it.
        let limits = ConnectionLimits(maxObjects: 100, maxImportedBytes: 1 << 20, maxDescriptors: 1)
        let connection = try device.openConnection(trust: .untrusted, limits: limits, sink: sink)
        connection.importBuffer(id: 1, memory: try memory())
        connection.importSemaphore(id: 2, event: try EventSemaphore(), flags: [])
        #expect(connection.flush()?.status == .memoryError)
        #expect(driver.bufferReleases == [1])
        #expect(driver.semaphoreReleases == [1], "made, then rejected: released with the rest")

        // The same through a client account that is full.
        let account = ResourceAccount(limits: ResourceAccount.Limits(maxDescriptors: 10, maxImportedBytes: 4096))
        let accounted = try device.openConnection(trust: .untrusted, account: account, sink: RecordingSink())
        accounted.importBuffer(id: 1, memory: try memory())
        accounted.importBuffer(id: 2, memory: try memory())
        #expect(accounted.flush()?.status == .memoryError)
        #expect(driver.bufferReleases == [1, 1, 1])
        #expect(account.held == ResourceAccount.Usage())
    }

    @Test func mappingsAndSubmissionsCarryTheDriversObjects() throws {
        let connection = try device.openConnection(trust: .untrusted, sink: sink)
        connection.importBuffer(id: 7, memory: try memory())
        connection.importSemaphore(id: 3, event: try EventSemaphore(), flags: [])
        connection.createContext(id: 1, priority: .medium)
        connection.mapBuffer(gpuAddress: 0x10000, bufferId: 7, offset: 0, length: 4096, flags: .read)
        connection.executeCommand(contextId: 1, descriptor: CommandDescriptor(
            resources: [BufferRange(bufferId: 7, offset: 0, length: 4096)], commandBuffers: [], waitSemaphores: [3], signalSemaphores: [3]))
        let buffer = try #require(driver.log.withLock { $0.buffers.first })
        let work = try #require(driver.log.withLock { $0.submitted.first })
        guard case .commandBuffers(let resources, _, _) = work.payload else { Issue.record("not a command batch"); return }
        #expect(resources.first?.buffer === buffer)
        #expect(RecordingDriver.ids(work.waitSemaphores) == [3])
        #expect(RecordingDriver.ids(work.signalSemaphores) == [3])
        driver.completeNext()
        #expect(connection.flush() == nil)
    }
}
