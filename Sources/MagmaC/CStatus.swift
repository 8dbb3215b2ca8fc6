import CMagma
import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol

/// Runs `body` and turns its outcome into a status: no Swift error leaves the C API.
func status(_ body: () throws(MagmaError) -> Void) -> magma_status_t {
    do {
        try body()
        return MAGMA_STATUS_OK
    } catch {
        return error.status.rawValue
    }
}

/// INVALID_ARGS unless `pointer` is non-NULL.
func required<T>(_ pointer: T?, _ name: String) throws(MagmaError) -> T {
    guard let pointer else { throw .invalidArgs("\(name) is NULL") }
    return pointer
}

/// Takes ownership of a descriptor handed in by the caller; INVALID_ARGS if it is not open.
func adopt(_ handle: magma_handle_t) throws(MagmaError) -> OwnedFileDescriptor {
    let descriptor = Int32(bitPattern: handle)
    guard descriptor >= 0, fcntl(descriptor, F_GETFD) != -1 else { throw .invalidArgs("handle \(descriptor) is not an open descriptor") }
    return OwnedFileDescriptor(taking: descriptor)
}

/// Closes a descriptor the caller handed over, if it is one.
func discard(_ handle: magma_handle_t) {
    let descriptor = Int32(bitPattern: handle)
    if descriptor >= 0 { close(descriptor) }
}

/// A new descriptor of `descriptor`'s file for the caller, who owns it.
func handOver(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> magma_handle_t {
    let copy = fcntl(descriptor.rawValue, F_DUPFD_CLOEXEC, 0)
    guard copy >= 0 else { throw .memoryError("cannot duplicate a descriptor: \(PlatformError(call: "fcntl"))") }
    return magma_handle_t(bitPattern: copy)
}

/// The connection behind a handle.
func lookUp(connection handle: magma_connection_t) throws(MagmaError) -> CConnection {
    guard let connection = Handles.connections.get(handle) else { throw .invalidArgs("unknown connection \(handle)") }
    return connection
}

/// The buffer behind a handle, which must belong to `connection` if given.
func lookUp(buffer handle: magma_buffer_t, of connection: magma_connection_t? = nil) throws(MagmaError) -> CBuffer {
    guard let buffer = Handles.buffers.get(handle), connection == nil || buffer.connection == connection else {
        throw .invalidArgs("unknown buffer \(handle)")
    }
    return buffer
}

/// The semaphore behind a handle, which must belong to `connection` if given.
func lookUp(semaphore handle: magma_semaphore_t, of connection: magma_connection_t? = nil) throws(MagmaError) -> CSemaphore {
    guard let semaphore = Handles.semaphores.get(handle), connection == nil || semaphore.connection == connection else {
        throw .invalidArgs("unknown semaphore \(handle)")
    }
    return semaphore
}

/// Releases a buffer or semaphore of `connection` (the `void` release calls). A handle the
/// connection does not own closes it with INVALID_ARGS, as the system does for a bad release.
func release<Object>(_ handle: UInt64, of connection: magma_connection_t, from table: HandleTable<ConnectionObject<Object>>,
                     _ release: (Connection, Object) throws(MagmaError) -> Void) {
    guard let opened = Handles.connections.get(connection) else { return }
    guard let owned = table.get(handle), owned.connection == connection else {
        opened.fail(.invalidArgs("release of unknown \(Object.self) \(handle)"))
        return
    }
    table.remove(handle)
    opened.unregister(handle)
    try? release(opened.connection, owned.object)
}

/// Bounds on the counts C callers pass, so a wild count is an error, not a huge allocation.
enum CLimits {
    static let maxArrayCount: UInt64 = 1 << 16
    static let maxInlineBytes: UInt64 = 1 << 20
}
