import Magma
import MagmaPlatform
import MagmaProtocol

/// A buffer of a virtio connection: a resource of guest pages, made a Magma buffer on the host
/// (`create_buffer`). Its CPU mapping is the guest's own mapping of those pages.
final class VirtioBuffer: BackendBuffer, Sendable {
    let id: ObjectId
    let resource: any VirtGPUResource
    let hostVisible: Bool

    init(id: ObjectId, resource: any VirtGPUResource, hostVisible: Bool) {
        self.id = id
        self.resource = resource
        self.hostVisible = hostVisible
    }

    var size: UInt64 { UInt64(resource.size) }
    var committedByteCount: UInt64 { size }

    func cpuMapping() throws(MagmaError) -> UnsafeMutableRawBufferPointer {
        guard hostVisible else { throw .invalidArgs("the buffer's memory type is not HOST_VISIBLE") }
        return resource.mapping
    }

    func export() throws(MagmaError) -> OwnedFileDescriptor {
        throw .unimplemented("exporting a virtio buffer: its pages are a guest resource, not a descriptor")
    }
}

/// A semaphore of a virtio connection: made on the host (`create_semaphore`); `isSignaled`
/// asks the host. `pollDescriptor` is a guest eventfd that mirrors it: signaled by this
/// guest's CPU signal or when a fenced `wait_semaphores` watch on the watch ring completes,
/// reset by this guest's CPU reset or when `isSignaled` finds the host's semaphore unsignaled
/// (work waited on it), which re-arms the watch. So the mirror may stay readable after GPU
/// work consumed the semaphore until someone asks `isSignaled` (a CPU wait does, before it
/// sleeps): a poll may wake for it, never sleeps through a signal.
final class VirtioSemaphore: BackendSemaphore, Sendable {
    let id: ObjectId
    let mirror: EventSemaphore
    /// Its connection (which holds its live semaphores until it closes: no cycle outlives it).
    private let connection: VirtioConnection

    init(id: ObjectId, connection: VirtioConnection) throws(MagmaError) {
        self.id = id
        self.connection = connection
        do { mirror = try EventSemaphore() } catch { throw .internalError("semaphore mirror: \(error)") }
    }

    var isOneShot: Bool { false }

    /// Asks the host. A connection that has failed answers false (its error is what a waiter sees).
    var isSignaled: Bool {
        let signaled: UInt64
        do { signaled = try connection.calls.valueCall { .getSemaphoreState(.init(semaphoreId: id, reply: $0)) } } catch {
            connection.fail(error)
            return false
        }
        if signaled == 1 { mirror.signal() } else if mirror.isSignaled {
            mirror.reset()
            connection.watcher.watch(self)
        }
        return signaled == 1
    }

    func signal() {
        connection.send([.virtio(.signalSemaphore(.init(semaphoreId: id)))])
        mirror.signal()
    }

    func reset() {
        connection.send([.virtio(.resetSemaphore(.init(semaphoreId: id)))])
        mirror.reset()
        connection.watcher.watch(self)
    }

    func export() throws(MagmaError) -> OwnedFileDescriptor {
        throw .unimplemented("exporting a virtio semaphore: it lives on the host")
    }

    var pollDescriptor: Int32 { mirror.descriptor.rawValue }
}
