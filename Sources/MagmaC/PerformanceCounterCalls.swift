import CMagma
import Magma
import MagmaPlatform
import MagmaProtocol

@c @implementation
public func magma_connection_enable_performance_counter_access(_ connection: magma_connection_t, _ channel: magma_handle_t) -> magma_status_t {
    status { () throws(MagmaError) in
        let endpoint = try adopt(channel)
        let opened = try lookUp(connection: connection)
        try opened.checkOpen()
        if try opened.connection.isPerformanceCounterAccessAllowed() { return }
        let token: OwnedFileDescriptor
        do { token = try SocketDeviceTransport.performanceCounterToken(endpoint: MessageSocket(adopting: endpoint)) } catch {
            throw .accessDenied("not a performance-counter endpoint: \(error)")
        }
        try opened.connection.enablePerformanceCounterAccess(token: token)
        guard try opened.connection.isPerformanceCounterAccessAllowed() else {
            throw .accessDenied("the channel is not this device's performance-counter endpoint")
        }
    }
}

/// Runs a performance-counter request on an open connection that has access (ACCESS_DENIED
/// otherwise, leaving the connection open).
private func counterRequest(_ connection: magma_connection_t, _ body: (CConnection) throws(MagmaError) -> Void) -> magma_status_t {
    status { () throws(MagmaError) in
        let opened = try lookUp(connection: connection)
        try opened.checkOpen()
        guard try opened.connection.isPerformanceCounterAccessAllowed() else {
            throw .accessDenied("performance-counter access was not enabled")
        }
        try body(opened)
    }
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
        handleOut.pointee = magma_handle_t(bitPattern: pool.eventDescriptor)
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
        try opened.connection.removePerformanceCounterBuffer(try lookUp(buffer: buffer, of: connection).object, from: try opened.pool(pool_id))
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
        let opened = try lookUp(connection: connection)
        try opened.checkOpen()
        guard let completion = try opened.pool(pool_id).nextCompletion() else { throw MagmaError(.timedOut, "no completion waiting") }
        triggerOut.pointee = completion.triggerId
        bufferOut.pointee = completion.bufferId
        offsetOut.pointee = completion.bufferOffset
        timeOut.pointee = completion.timestamp
        flagsOut.pointee = completion.flags.rawValue
    }
}
