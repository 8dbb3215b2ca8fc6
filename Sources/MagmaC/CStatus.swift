import CMagma
import Glibc
import Magma
import MagmaPlatform
import MagmaCSupport
import MagmaProtocol

/// Takes ownership of a descriptor handed in by the caller; INVALID_ARGS if it is not open.
func adopt(_ handle: magma_handle_t) throws(MagmaError) -> OwnedFileDescriptor {
    let descriptor = Int32(bitPattern: handle)
    guard let owned = descriptorFromCaller(Int64(descriptor)) else { throw .invalidArgs("handle \(descriptor) is not an open descriptor") }
    return owned
}

/// Closes a descriptor the caller handed over, if it is one.
func discard(_ handle: magma_handle_t) {
    let descriptor = Int32(bitPattern: handle)
    if descriptor >= 0 { close(descriptor) }
}

/// A new descriptor of `descriptor`'s file for the caller, who owns it.
func handOver(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> magma_handle_t {
    magma_handle_t(bitPattern: try descriptorForCaller(descriptor))
}

/// The connection behind a handle.
func lookUp(connection handle: magma_connection_t) throws(MagmaError) -> CConnection {
    guard let connection = Handles.connections.get(handle) else { throw .invalidArgs("unknown connection \(handle)") }
    return connection
}

/// Runs a call on the connection behind `handle`. The call is checked once: `Magma` checks that
/// the connection is open and owns the objects `body` names (the handle lookups only find them).
/// Any error on a connection that has failed is reported as the connection's error, as if that
/// were checked first.
func onConnection(_ handle: magma_connection_t, _ body: (CConnection) throws(MagmaError) -> Void) throws(MagmaError) {
    let opened = try lookUp(connection: handle)
    do { try body(opened) } catch { throw opened.connection.error ?? error }
}

/// The buffer behind a handle (of any connection: the call's owner check is `Magma`'s).
func lookUp(buffer handle: magma_buffer_t) throws(MagmaError) -> Buffer {
    guard let buffer = Handles.buffers.get(handle) else { throw .invalidArgs("unknown buffer \(handle)") }
    return buffer
}

/// The semaphore behind a handle (of any connection).
func lookUp(semaphore handle: magma_semaphore_t) throws(MagmaError) -> Magma.Semaphore {
    guard let semaphore = Handles.semaphores.get(handle) else { throw .invalidArgs("unknown semaphore \(handle)") }
    return semaphore
}

/// Runs a call that returns nothing (release, unmap) on the connection behind `handle`. Its
/// error on a healthy connection, a misuse like an unknown or foreign object, closes the
/// connection with that error, as the system does for a bad request; on a closed or failed
/// connection it is dropped.
func voidCall(_ handle: magma_connection_t, _ body: (CConnection) throws(MagmaError) -> Void) {
    guard let opened = Handles.connections.get(handle) else { return }
    do { try body(opened) } catch {
        if opened.connection.error == nil { opened.connection.fail(error) }
    }
}

/// Releases the buffer or semaphore behind `handle` (the `void` release calls) and drops its
/// handle once `Magma` has marked the object released; an object of another connection keeps
/// its handle.
func release<Object: AnyObject & Sendable>(_ handle: UInt64, of connection: magma_connection_t, from table: HandleTable<Object>,
                                           isReleased: (Object) -> Bool, _ release: (Connection, Object) throws(MagmaError) -> Void) {
    voidCall(connection) { (opened) throws(MagmaError) in
        guard let object = table.get(handle) else { throw .invalidArgs("release of unknown \(Object.self) \(handle)") }
        defer { if isReleased(object) { table.remove(handle) } }
        try release(opened.connection, object)
    }
}

/// Bounds on the counts C callers pass, so a wild count is an error, not a huge allocation.
enum CLimits {
    static let maxArrayCount: UInt64 = 1 << 16
    static let maxInlineBytes: UInt64 = 1 << 20
}
