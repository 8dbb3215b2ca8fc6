import CMagma
import Glibc
import Magma
import MagmaSocket
import MagmaCSupport
import MagmaPlatform
import MagmaProtocol

@c @implementation
public func magma_device_get_performance_counter_token(_ device: magma_device_t, _ token_out: UnsafeMutablePointer<magma_handle_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(token_out, "token_out")
        guard let opened = Handles.devices.get(device) else { throw .invalidArgs("unknown device \(device)") }
        out.pointee = try handOver(try opened.device.performanceCounterToken())
    }
}

@c @implementation
public func magma_connection_enable_performance_counter_access(_ connection: magma_connection_t, _ channel: magma_handle_t) -> magma_status_t {
    status { () throws(MagmaError) in
        let handle = try adopt(channel)
        try onConnection(connection) { (opened) throws(MagmaError) in
            try opened.connection.enablePerformanceCounterAccess(token: try accessToken(from: handle))
            guard try opened.connection.isPerformanceCounterAccessAllowed() else {
                throw .accessDenied("the handle is neither this device's performance-counter endpoint nor its token")
            }
        }
    }
}

/// The token a handle given to magma_connection_enable_performance_counter_access stands for:
/// a socket is asked for it as a performance-counter endpoint (Fuchsia's form); any other
/// descriptor is presented as the token itself (from magma_device_get_performance_counter_token).
private func accessToken(from handle: OwnedFileDescriptor) throws(MagmaError) -> OwnedFileDescriptor {
    var info = stat()
    guard fstat(handle.rawValue, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return handle }
    do { return try SocketDeviceTransport.performanceCounterToken(endpoint: MessageSocket(adopting: handle)) } catch {
        throw .accessDenied("not a performance-counter endpoint: \(error)")
    }
}

/// Runs a performance-counter request on a connection. Like every request it is
/// feed-forward and never waits for the system: without access it returns OK and the
/// connection closes with ACCESS_DENIED, which flush and every later call report.
private func counterRequest(_ connection: magma_connection_t, _ body: (CConnection) throws(MagmaError) -> Void) -> magma_status_t {
    status { () throws(MagmaError) in try onConnection(connection, body) }
}

@c @implementation
public func magma_connection_enable_performance_counters(_ connection: magma_connection_t, _ counters: UnsafeMutablePointer<UInt64>?,
                                                         _ counters_count: UInt64) -> magma_status_t {
    counterRequest(connection) { (opened) throws(MagmaError) in
        try opened.connection.enablePerformanceCounters(try array(counters, counters_count, "counters"))
    }
}

@c @implementation
public func magma_connection_create_performance_counter_buffer_pool(_ connection: magma_connection_t,
                                                                    _ pool_id_out: UnsafeMutablePointer<magma_perf_count_pool_t>?,
                                                                    _ notification_handle_out: UnsafeMutablePointer<magma_handle_t>?) -> magma_status_t {
    counterRequest(connection) { (opened) throws(MagmaError) in
        let (poolOut, handleOut) = (try required(pool_id_out, "pool_id_out"), try required(notification_handle_out, "notification_handle_out"))
        let pool = try opened.connection.createPerformanceCounterPool()
        opened.add(pool: pool)
        poolOut.pointee = pool.id
        handleOut.pointee = magma_handle_t(bitPattern: pool.eventDescriptor.rawValue)
    }
}

@c @implementation
public func magma_connection_release_performance_counter_buffer_pool(_ connection: magma_connection_t,
                                                                     _ pool_id: magma_perf_count_pool_t) -> magma_status_t {
    counterRequest(connection) { (opened) throws(MagmaError) in
        guard let pool = opened.removePool(pool_id) else { throw .invalidArgs("unknown performance-counter pool \(pool_id)") }
        try opened.connection.release(pool)
    }
}

@c @implementation
public func magma_connection_add_performance_counter_buffer_offsets_to_pool(_ connection: magma_connection_t, _ pool_id: magma_perf_count_pool_t,
                                                                            _ offsets: UnsafePointer<magma_buffer_offset_t>?,
                                                                            _ offsets_count: UInt64) -> magma_status_t {
    counterRequest(connection) { (opened) throws(MagmaError) in
        let ranges = try array(offsets, offsets_count, "offsets").map { BufferRange(bufferId: $0.buffer_id, offset: $0.offset, length: $0.length) }
        try opened.connection.addPerformanceCounterRanges(ranges, to: try opened.pool(pool_id))
    }
}

@c @implementation
public func magma_connection_remove_performance_counter_buffer_from_pool(_ connection: magma_connection_t, _ pool_id: magma_perf_count_pool_t,
                                                                         _ buffer: magma_buffer_t) -> magma_status_t {
    counterRequest(connection) { (opened) throws(MagmaError) in
        try opened.connection.removePerformanceCounterBuffer(try lookUp(buffer: buffer), from: try opened.pool(pool_id))
    }
}

@c @implementation
public func magma_connection_dump_performance_counters(_ connection: magma_connection_t, _ pool_id: magma_perf_count_pool_t,
                                                       _ trigger_id: UInt32) -> magma_status_t {
    counterRequest(connection) { (opened) throws(MagmaError) in
        try opened.connection.dumpPerformanceCounters(into: try opened.pool(pool_id), triggerId: trigger_id)
    }
}

@c @implementation
public func magma_connection_clear_performance_counters(_ connection: magma_connection_t, _ counters: UnsafeMutablePointer<UInt64>?,
                                                        _ counters_count: UInt64) -> magma_status_t {
    counterRequest(connection) { (opened) throws(MagmaError) in
        try opened.connection.clearPerformanceCounters(try array(counters, counters_count, "counters"))
    }
}

@c @implementation
public func magma_connection_read_performance_counter_completion(_ connection: magma_connection_t, _ pool_id: magma_perf_count_pool_t,
                                                                 _ trigger_id_out: UnsafeMutablePointer<UInt32>?,
                                                                 _ buffer_id_out: UnsafeMutablePointer<UInt64>?,
                                                                 _ buffer_offset_out: UnsafeMutablePointer<UInt32>?,
                                                                 _ time_out: UnsafeMutablePointer<UInt64>?,
                                                                 _ result_flags_out: UnsafeMutablePointer<UInt32>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let triggerOut = try required(trigger_id_out, "trigger_id_out")
        let bufferOut = try required(buffer_id_out, "buffer_id_out")
        let offsetOut = try required(buffer_offset_out, "buffer_offset_out")
        let timeOut = try required(time_out, "time_out")
        let flagsOut = try required(result_flags_out, "result_flags_out")
        try onConnection(connection) { (opened) throws(MagmaError) in
            // The one open check: reading a pool's completions involves no other connection call.
            try opened.connection.checkOpen()
            guard let completion = try opened.pool(pool_id).nextCompletion() else { throw MagmaError(.timedOut, "no completion waiting") }
            triggerOut.pointee = completion.triggerId
            bufferOut.pointee = completion.bufferId
            offsetOut.pointee = completion.bufferOffset
            timeOut.pointee = completion.timestamp
            flagsOut.pointee = completion.flags.rawValue
        }
    }
}
