import Magma
import MagmaPlatform
import MagmaProtocol

/// One virtio-gpu context of capset 7: a host connection of the device and the guest's ids of
/// its objects. Ids are the guest's (0 is never one) and exist only in this context, so no
/// other context or guest can name what they name. Read and changed under the device model's
/// lock (its commands are applied one at a time, as a virtqueue is read).
final class HostContext: @unchecked Sendable {
    let id: UInt32
    let connection: Connection
    let watcher: FenceWatcher
    var buffers: [UInt64: Buffer] = [:]
    var semaphores: [UInt64: Semaphore] = [:]
    var timelines: [UInt64: TimelineSemaphore] = [:]
    var contexts: [UInt32: Context] = [:]
    /// Its shared-memory command rings (`create_ring`).
    var rings = ContextRings()

    init(id: UInt32, device: Device, timelines: FenceTimelines, watcherExit: (@Sendable () -> Void)? = nil) throws(MagmaError) {
        self.id = id
        connection = try device.createConnection()
        do {
            watcher = try FenceWatcher(connection: connection, timelines: timelines, name: "virtio.fence.\(id)", onExit: watcherExit)
        } catch {
            connection.release()
            throw error
        }
    }

    /// Ends the context: pending fences complete with `error`, the host connection closes (the
    /// system releases every buffer, semaphore and context it held).
    func close(_ error: MagmaError) {
        watcher.stop(error)
        buffers = [:]
        semaphores = [:]
        timelines = [:]
        contexts = [:]
        rings = ContextRings()
        connection.release()
    }

    func buffer(_ id: UInt64) throws(MagmaError) -> Buffer {
        guard let buffer = buffers[id] else { throw .invalidArgs("context \(self.id) has no buffer \(id)") }
        return buffer
    }

    func semaphore(_ id: UInt64) throws(MagmaError) -> Semaphore {
        guard let semaphore = semaphores[id] else { throw .invalidArgs("context \(self.id) has no semaphore \(id)") }
        return semaphore
    }

    func context(_ id: UInt32) throws(MagmaError) -> Context {
        guard let context = contexts[id] else { throw .invalidArgs("context \(self.id) has no Magma context \(id)") }
        return context
    }

    /// A guest id for a new object: nonzero and unused in its table.
    func checkNew<Object>(_ id: UInt64, in table: [UInt64: Object], _ what: String) throws(MagmaError) {
        guard id != 0 else { throw .invalidArgs("\(what) id 0") }
        guard table[id] == nil else { throw .invalidArgs("\(what) id \(id) is in use in context \(self.id)") }
    }
}
