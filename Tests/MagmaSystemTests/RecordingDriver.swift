import MagmaPlatform
import MagmaProtocol
import MagmaSystem

/// A fake system driver that records what MagmaSystem asks of it and holds submitted work
/// until the test completes it: the system layer tested without any GPU.
final class RecordingDriver: MsdDriver, MsdDevice, @unchecked Sendable {
    struct Log {
        var maps: [UInt64] = []
        var unmaps: [UInt64] = []
        var contexts = 0
        var destroyedContexts = 0
        var submitted: [GpuWork] = []
        var released = 0
    }

    let log = Locked(Log())

    func createDevice() throws(MagmaError) -> any MsdDevice { self }

    func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer {
        guard id == .vendorId else { throw .invalidArgs("unknown query") }
        return .value(0xFA4E)
    }

    func openConnection(clientId: UInt64, notifications: any MsdNotificationHandler) throws(MagmaError) -> any MsdConnection {
        Connection(driver: self)
    }

    final class Connection: MsdConnection, @unchecked Sendable {
        let driver: RecordingDriver
        init(driver: RecordingDriver) { self.driver = driver }

        func createContext(priority: Priority) throws(MagmaError) -> any MsdContext {
            driver.log.withLock { $0.contexts += 1 }
            return Context(driver: driver)
        }
        func map(_ mapping: GpuMapping) throws(MagmaError) { driver.log.withLock { $0.maps.append(mapping.gpuAddress) } }
        func unmap(_ mapping: GpuMapping) { driver.log.withLock { $0.unmaps.append(mapping.gpuAddress) } }
        func updatePageTables(_ op: BufferRangeOp, mapping: GpuMapping, offset: UInt64, length: UInt64) throws(MagmaError) {}
        func release() { driver.log.withLock { $0.released += 1 } }
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
}

/// Records what the system sends to the client.
final class RecordingSink: NotificationSink, @unchecked Sendable {
    let epitaphs = Locked<[MagmaError]>([])
    let messages = Locked<[[UInt8]]>([])
    func deliver(_ message: [UInt8]) { messages.withLock { $0.append(message) } }
    func connectionClosed(_ error: MagmaError) { epitaphs.withLock { $0.append(error) } }
}
