import CMagma
import Magma
import MagmaProtocol

@c @implementation
public func magma_connection_create_semaphore(_ connection: magma_connection_t, _ semaphore_out: UnsafeMutablePointer<magma_semaphore_t>?,
                                              _ id_out: UnsafeMutablePointer<magma_semaphore_id_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let (semaphoreOut, idOut) = (try required(semaphore_out, "semaphore_out"), try required(id_out, "id_out"))
        let opened = try lookUp(connection: connection)
        try opened.checkOpen()
        register(try opened.connection.createSemaphore(), in: opened, connection, semaphoreOut, idOut)
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
        let opened = try lookUp(connection: connection)
        try opened.checkOpen()
        register(try opened.connection.importSemaphore(descriptor, flags: importFlags), in: opened, connection, semaphoreOut, idOut)
    }
}

private func register(_ semaphore: Semaphore, in opened: CConnection, _ connection: magma_connection_t,
                      _ semaphoreOut: UnsafeMutablePointer<magma_semaphore_t>, _ idOut: UnsafeMutablePointer<magma_semaphore_id_t>) {
    let handle = Handles.semaphores.insert(CSemaphore(semaphore, connection: connection))
    opened.register(semaphore: handle)
    semaphoreOut.pointee = handle
    idOut.pointee = semaphore.id
}

@c @implementation
public func magma_connection_release_semaphore(_ connection: magma_connection_t, _ semaphore: magma_semaphore_t) {
    release(semaphore, of: connection, from: Handles.semaphores) { (connection, semaphore) throws(MagmaError) in try connection.release(semaphore) }
}

@c @implementation
public func magma_semaphore_signal(_ semaphore: magma_semaphore_t) {
    Handles.semaphores.get(semaphore)?.object.signal()
}

@c @implementation
public func magma_semaphore_reset(_ semaphore: magma_semaphore_t) {
    Handles.semaphores.get(semaphore)?.object.reset()
}

@c @implementation
public func magma_semaphore_export(_ semaphore: magma_semaphore_t, _ semaphore_handle_out: UnsafeMutablePointer<magma_handle_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(semaphore_handle_out, "semaphore_handle_out")
        out.pointee = try handOver(try lookUp(semaphore: semaphore).object.export())
    }
}
