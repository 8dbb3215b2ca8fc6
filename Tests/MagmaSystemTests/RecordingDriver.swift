import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import Synchronization

/// A fake system driver that records what MagmaSystem asks of it and holds submitted work
/// until the test completes it: the system layer tested without any GPU. It has no performance
/// counters (the MSD's defaults answer for it).
final class RecordingDriver: MsdDriver, MsdDevice, @unchecked Sendable {
    struct Log {
        var maps: [UInt64] = []
        var unmaps: [UInt64] = []
        var contexts = 0
        /// The queue family of each context made, in order.
        var contextFamilies: [UInt32] = []
        var destroyedContexts = 0
        var submitted: [GpuWork] = []
        var released = 0
        /// Every buffer and semaphore the driver made, in order.
        var buffers: [Buffer] = []
        var semaphores: [Semaphore] = []
        /// Driver calls that drop things, in order: "unmap 0x1000", "release buffer 7",
        /// "release semaphore 3", "release connection".
        var drops: [String] = []
        /// The error the next imports throw, if any.
        var importFailure: MagmaError?
    }

    let log = Locked(Log())
    let info: PhysicalDeviceInfo

    /// A driver that describes itself as `info`.
    init(info: PhysicalDeviceInfo = .testDriver) { self.info = info }

    func createDevice() throws(MagmaError) -> any MsdDevice { self }

    func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer {
        guard id == .vendorId else { throw .invalidArgs("unknown query") }
        return .value(0xFA4E)
    }

    func openConnection(clientId: UInt64, notifications: any MsdNotificationHandler) throws(MagmaError) -> any MsdConnection {
        Connection(driver: self)
    }

    func importBuffer(memory: SharedMemory, id: ObjectId) throws(MagmaError) -> any MsdBuffer {
        try log.withLock { log throws(MagmaError) in
            if let failure = log.importFailure { throw failure }
            let buffer = Buffer(id: id, memory: memory, driver: self)
            log.buffers.append(buffer)
            return buffer
        }
    }

    func importSemaphore(event: EventSemaphore, id: ObjectId, flags: ImportSemaphoreFlags) throws(MagmaError) -> any MsdSemaphore {
        try log.withLock { log throws(MagmaError) in
            if let failure = log.importFailure { throw failure }
            let semaphore = Semaphore(id: id, event: event, driver: self)
            log.semaphores.append(semaphore)
            return semaphore
        }
    }

    /// A buffer that counts its releases.
    final class Buffer: MsdBuffer, @unchecked Sendable {
        let id: ObjectId
        let memory: SharedMemory
        let releases = Atomic<Int>(0)
        private unowned let driver: RecordingDriver
        init(id: ObjectId, memory: SharedMemory, driver: RecordingDriver) {
            self.id = id
            self.memory = memory
            self.driver = driver
        }
        func release() {
            releases.add(1, ordering: .relaxed)
            driver.log.withLock { $0.drops.append("release buffer \(id)") }
        }
    }

    /// A semaphore that counts its releases.
    final class Semaphore: MsdSemaphore, @unchecked Sendable {
        let id: ObjectId
        let event: EventSemaphore
        let releases = Atomic<Int>(0)
        private unowned let driver: RecordingDriver
        init(id: ObjectId, event: EventSemaphore, driver: RecordingDriver) {
            self.id = id
            self.event = event
            self.driver = driver
        }
        func release() {
            releases.add(1, ordering: .relaxed)
            driver.log.withLock { $0.drops.append("release semaphore \(id)") }
        }
    }

    final class Connection: MsdConnection, @unchecked Sendable {
        let driver: RecordingDriver
        init(driver: RecordingDriver) { self.driver = driver }

        func createContext(priority: Priority, queueFamily: UInt32) throws(MagmaError) -> any MsdContext {
            driver.log.withLock { log in
                log.contexts += 1
                log.contextFamilies.append(queueFamily)
            }
            return Context(driver: driver)
        }
        func map(_ mapping: GpuMapping) throws(MagmaError) { driver.log.withLock { $0.maps.append(mapping.gpuAddress) } }
        func unmap(_ mapping: GpuMapping) {
            driver.log.withLock {
                $0.unmaps.append(mapping.gpuAddress)
                $0.drops.append("unmap 0x\(String(mapping.gpuAddress, radix: 16))")
            }
        }
        func updatePageTables(_ op: BufferRangeOp, mapping: GpuMapping, offset: UInt64, length: UInt64) throws(MagmaError) {}
        func release() {
            driver.log.withLock {
                $0.released += 1
                $0.drops.append("release connection")
            }
        }
    }

    final class Context: MsdContext, @unchecked Sendable {
        let driver: RecordingDriver
        init(driver: RecordingDriver) { self.driver = driver }
        func submit(_ work: GpuWork) { driver.log.withLock { $0.submitted.append(work) } }
        func destroy() { driver.log.withLock { $0.destroyedContexts += 1 } }
    }

    /// Completes the oldest submitted work.
    func completeNext(_ status: MagmaStatus = .ok) {
        let work = log.withLock { $0.submitted.isEmpty ? nil : $0.submitted.removeFirst() }
        work?.complete(status)
    }

    /// The client ids of the recording driver's semaphores.
    static func ids(_ semaphores: [any MsdSemaphore]) -> [ObjectId] { semaphores.map { ($0 as! Semaphore).id } }

    /// How often each buffer the driver made was released, in import order.
    var bufferReleases: [Int] { log.withLock { $0.buffers.map { $0.releases.load(ordering: .relaxed) } } }

    /// How often each semaphore the driver made was released, in import order.
    var semaphoreReleases: [Int] { log.withLock { $0.semaphores.map { $0.releases.load(ordering: .relaxed) } } }
}

/// Records what the system sends to the client.
final class RecordingSink: NotificationSink, @unchecked Sendable {
    let epitaphs = Locked<[MagmaError]>([])
    let messages = Locked<[[UInt8]]>([])
    func deliver(_ message: [UInt8]) { messages.withLock { $0.append(message) } }
    func connectionClosed(_ error: MagmaError) { epitaphs.withLock { $0.append(error) } }
}
