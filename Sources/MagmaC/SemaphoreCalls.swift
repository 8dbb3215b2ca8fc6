import CMagma
import Magma
import MagmaCSupport
import MagmaProtocol

@c @implementation
public func magma_connection_create_semaphore(_ connection: magma_connection_t, _ semaphore_out: UnsafeMutablePointer<magma_semaphore_t>?,
                                              _ id_out: UnsafeMutablePointer<magma_semaphore_id_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let (semaphoreOut, idOut) = (try required(semaphore_out, "semaphore_out"), try required(id_out, "id_out"))
        try onConnection(connection) { (opened) throws(MagmaError) in register(try opened.connection.createSemaphore(), semaphoreOut, idOut) }
    }
}

@c @implementation
public func magma_connection_import_semaphore2(_ connection: magma_connection_t, _ semaphore_handle: magma_handle_t, _ flags: UInt64,
                                               _ semaphore_out: UnsafeMutablePointer<magma_semaphore_t>?,
                                               _ id_out: UnsafeMutablePointer<magma_semaphore_id_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let descriptor = try adopt(semaphore_handle)
        let (semaphoreOut, idOut) = (try required(semaphore_out, "semaphore_out"), try required(id_out, "id_out"))
        let importFlags = ImportSemaphoreFlags(rawValue: flags)
        guard ImportSemaphoreFlags.known.isSuperset(of: importFlags) else { throw .invalidArgs("unknown import flags \(flags)") }
        try onConnection(connection) { (opened) throws(MagmaError) in
            register(try opened.connection.importSemaphore(descriptor, flags: importFlags), semaphoreOut, idOut)
        }
    }
}

private func register(_ semaphore: Semaphore, _ semaphoreOut: UnsafeMutablePointer<magma_semaphore_t>,
                      _ idOut: UnsafeMutablePointer<magma_semaphore_id_t>) {
    let handle = Handles.semaphores.insert(semaphore)
    semaphoreOut.pointee = handle
    idOut.pointee = semaphore.id
}

@c @implementation
public func magma_connection_release_semaphore(_ connection: magma_connection_t, _ semaphore: magma_semaphore_t) {
    release(semaphore, of: connection, from: Handles.semaphores, isReleased: \.isReleased) { (connection, semaphore) throws(MagmaError) in
        try connection.release(semaphore)
    }
}

@c @implementation
public func magma_semaphore_signal(_ semaphore: magma_semaphore_t) {
    Handles.semaphores.get(semaphore)?.signal()
}

@c @implementation
public func magma_semaphore_reset(_ semaphore: magma_semaphore_t) {
    Handles.semaphores.get(semaphore)?.reset()
}

@c @implementation
public func magma_semaphore_export(_ semaphore: magma_semaphore_t, _ semaphore_handle_out: UnsafeMutablePointer<magma_handle_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(semaphore_handle_out, "semaphore_handle_out")
        out.pointee = try handOver(try lookUp(semaphore: semaphore).export())
    }
}
