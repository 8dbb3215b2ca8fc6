import Magma
import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// A buffer of a virtio connection: a resource of guest pages, made a Magma buffer on the host
/// (`create_buffer`). Its CPU mapping is the guest's own mapping of those pages.
final class VirtioBuffer: BackendBuffer, Sendable {
    let id: ObjectId
    let resource: any VirtGPUResource
    let hostVisible: Bool
    /// The open that holds its resource (exports name it).
    private let device: any VirtGPUDevice

    init(id: ObjectId, resource: any VirtGPUResource, hostVisible: Bool, device: any VirtGPUDevice) {
        self.id = id
        self.resource = resource
        self.hostVisible = hostVisible
        self.device = device
    }

    var size: UInt64 { UInt64(resource.size) }
    var committedByteCount: UInt64 { UInt64(resource.committedBytes) }

    func cpuMapping() throws(MagmaError) -> UnsafeMutableRawBufferPointer {
        guard hostVisible else { throw .invalidArgs("the buffer's memory type is not HOST_VISIBLE") }
        return resource.mapping
    }

    /// Its resource, PRIME-exported: another connection of this guest imports the same pages.
    func export() throws(MagmaError) -> OwnedFileDescriptor { try device.exportResource(resource) }
}

/// A semaphore of a virtio connection: made on the host (`create_semaphore`); `isSignaled`
/// asks the host. `pollDescriptor` is a guest eventfd that mirrors it: signaled by this
/// guest's CPU signal or when a fenced `wait_semaphores` watch on the watch ring completes,
/// reset by this guest's CPU reset or when `isSignaled` finds the host's semaphore unsignaled
/// (work waited on it), which re-arms the watch. A watch that completes after a reset it was
/// armed before signals nothing (`mirrorEpoch`): its signal is one the reset undid. So the mirror may stay readable after GPU
/// work consumed the semaphore until someone asks `isSignaled` (a CPU wait does, before it
/// sleeps): a poll may wake for it, never sleeps through a signal. Its exported descriptor is
/// that mirror (`VirtioConnection.export(_:)`), so it polls as the other backends' eventfds do.
final class VirtioSemaphore: BackendSemaphore, Sendable {
    let id: ObjectId
    let mirror: EventSemaphore
    private let epoch = Locked<UInt64>(0)
    /// Set (under the watcher's lock) once it is released: no watch of it is armed after.
    let isUnwatched = Locked(false)
    /// Whether it is shared on the host (`export_object` under its mirror's share id), which
    /// its first export does.
    let isShared = Locked(false)
    /// Its connection (which holds its live semaphores until it closes: no cycle outlives it).
    private let connection: VirtioConnection

    init(id: ObjectId, connection: VirtioConnection, isOneShot: Bool) throws(MagmaError) {
        self.id = id
        self.connection = connection
        self.isOneShot = isOneShot
        do { mirror = try EventSemaphore() } catch { throw .internalError("semaphore mirror: \(error)") }
    }

    /// Imported with `.oneShot`: GPU waits and resets through it never reset the host's semaphore.
    let isOneShot: Bool

    /// Asks the host. A connection that has failed answers false (its error is what a waiter sees).
    var isSignaled: Bool { isSignaled(asking: connection.calls) }

    /// `isSignaled`, the call made through `calls` (the watcher thread has calls of its own).
    func isSignaled(asking calls: VirtioCalls) -> Bool {
        let signaled: UInt64
        do { signaled = try calls.valueCall { .getSemaphoreState(.init(semaphoreId: id, reply: $0)) } } catch {
            connection.fail(error)
            return false
        }
        if signaled == 1 { mirror.signal() } else if mirror.isSignaled {
            resetMirror()
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
        resetMirror()
        connection.watcher.watch(self)
    }

    /// How many times the mirror was reset: a watch armed at an earlier epoch may have seen a
    /// signal that a reset since has undone.
    var mirrorEpoch: UInt64 { epoch.withLock { $0 } }

    /// Signals the mirror for a watch armed at `armed`, if no reset came since; false if one did
    /// (the watch is stale). Under the epoch's lock, so a reset is wholly before or after it.
    func signalMirror(ifEpoch armed: UInt64) -> Bool {
        epoch.withLock { epoch in
            guard epoch == armed else { return false }
            mirror.signal()
            return true
        }
    }

    private func resetMirror() {
        epoch.withLock { epoch in
            epoch &+= 1
            mirror.reset()
        }
    }

    /// Shared with the guest's other connections: the descriptor is its mirror eventfd.
    func export() throws(MagmaError) -> OwnedFileDescriptor { try connection.export(self) }

    var pollDescriptor: FileDescriptor { mirror.descriptor.fileDescriptor }
}
