import CMagma
import Magma
import MagmaCSupport
import MagmaPlatform
import MagmaProtocol

@c @implementation
public func magma_connection_create_buffer(_ connection: magma_connection_t, _ size: UInt64, _ size_out: UnsafeMutablePointer<UInt64>?,
                                           _ buffer_out: UnsafeMutablePointer<magma_buffer_t>?,
                                           _ id_out: UnsafeMutablePointer<magma_buffer_id_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let (sizeOut, bufferOut, idOut) = (try required(size_out, "size_out"), try required(buffer_out, "buffer_out"), try required(id_out, "id_out"))
        try onConnection(connection) { (opened) throws(MagmaError) in
            register(try opened.connection.createBuffer(size: size), sizeOut, bufferOut, idOut)
        }
    }
}

@c @implementation
public func magma_connection_import_buffer(_ connection: magma_connection_t, _ buffer_handle: magma_handle_t,
                                           _ size_out: UnsafeMutablePointer<UInt64>?, _ buffer_out: UnsafeMutablePointer<magma_buffer_t>?,
                                           _ id_out: UnsafeMutablePointer<magma_buffer_id_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let descriptor = try adopt(buffer_handle)
        let (sizeOut, bufferOut, idOut) = (try required(size_out, "size_out"), try required(buffer_out, "buffer_out"), try required(id_out, "id_out"))
        try onConnection(connection) { (opened) throws(MagmaError) in
            register(try opened.connection.importBuffer(descriptor), sizeOut, bufferOut, idOut)
        }
    }
}

private func register(_ buffer: Buffer, _ sizeOut: UnsafeMutablePointer<UInt64>, _ bufferOut: UnsafeMutablePointer<magma_buffer_t>,
                      _ idOut: UnsafeMutablePointer<magma_buffer_id_t>) {
    let handle = Handles.buffers.insert(buffer)
    sizeOut.pointee = buffer.size
    bufferOut.pointee = handle
    idOut.pointee = buffer.id
}

@c @implementation
public func magma_connection_release_buffer(_ connection: magma_connection_t, _ buffer: magma_buffer_t) {
    release(buffer, of: connection, from: Handles.buffers, isReleased: \.isReleased) { (connection, buffer) throws(MagmaError) in
        try connection.release(buffer)
    }
}

@c @implementation
public func magma_buffer_export(_ buffer: magma_buffer_t, _ buffer_handle_out: UnsafeMutablePointer<magma_handle_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(buffer_handle_out, "buffer_handle_out")
        out.pointee = try handOver(try lookUp(buffer: buffer).export())
    }
}

@c @implementation
public func magma_buffer_get_handle(_ buffer: magma_buffer_t, _ handle_out: UnsafeMutablePointer<magma_handle_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(handle_out, "handle_out")
        out.pointee = try handOver(try lookUp(buffer: buffer).handle())
    }
}

@c @implementation
public func magma_buffer_get_info(_ buffer: magma_buffer_t, _ info_out: UnsafeMutablePointer<magma_buffer_info_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(info_out, "info_out")
        let info = try lookUp(buffer: buffer).info
        out.pointee = magma_buffer_info_t(committed_byte_count: info.committedByteCount, size: info.size)
    }
}

@c @implementation
public func magma_buffer_set_cache_policy(_ buffer: magma_buffer_t, _ policy: magma_cache_policy_t) -> magma_status_t {
    status { () throws(MagmaError) in
        guard let policy = CachePolicy(rawValue: policy) else { throw .invalidArgs("unknown cache policy \(policy)") }
        try lookUp(buffer: buffer).setCachePolicy(policy)
    }
}

@c @implementation
public func magma_buffer_get_cache_policy(_ buffer: magma_buffer_t, _ cache_policy_out: UnsafeMutablePointer<magma_cache_policy_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(cache_policy_out, "cache_policy_out")
        out.pointee = try lookUp(buffer: buffer).cachePolicy.rawValue
    }
}

@c @implementation
public func magma_buffer_clean_cache(_ buffer: magma_buffer_t, _ offset: UInt64, _ size: UInt64, _ operation: magma_cache_operation_t) -> magma_status_t {
    status { () throws(MagmaError) in
        guard let operation = CacheOperation(rawValue: operation) else { throw .invalidArgs("unknown cache operation \(operation)") }
        try lookUp(buffer: buffer).cleanCache(offset: offset, length: size, operation: operation)
    }
}

@c @implementation
public func magma_buffer_set_name(_ buffer: magma_buffer_t, _ name: UnsafePointer<CChar>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let name = String(cString: try required(name, "name"))
        try lookUp(buffer: buffer).setName(name)
    }
}

@c @implementation
public func magma_connection_map_buffer(_ connection: magma_connection_t, _ hw_va: UInt64, _ buffer: magma_buffer_t, _ offset: UInt64,
                                        _ length: UInt64, _ map_flags: UInt64) -> magma_status_t {
    status { () throws(MagmaError) in
        try onConnection(connection) { (opened) throws(MagmaError) in
            try opened.connection.map(try lookUp(buffer: buffer), at: hw_va, offset: offset, length: length, flags: MapFlags(rawValue: map_flags))
        }
    }
}

@c @implementation
public func magma_connection_unmap_buffer(_ connection: magma_connection_t, _ hw_va: UInt64, _ buffer: magma_buffer_t) {
    voidCall(connection) { (opened) throws(MagmaError) in try opened.connection.unmap(try lookUp(buffer: buffer), at: hw_va) }
}

@c @implementation
public func magma_connection_perform_buffer_op(_ connection: magma_connection_t, _ buffer: magma_buffer_t, _ options: UInt32,
                                               _ start_offset: UInt64, _ length: UInt64) -> magma_status_t {
    status { () throws(MagmaError) in
        guard let op = BufferRangeOp(rawValue: options) else { throw .invalidArgs("unknown buffer range op \(options)") }
        try onConnection(connection) { (opened) throws(MagmaError) in
            try opened.connection.perform(op, on: try lookUp(buffer: buffer), offset: start_offset, length: length)
        }
    }
}
