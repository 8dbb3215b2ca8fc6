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

/// The verdict on a performance-counter request: ACCESS_DENIED without access, UNIMPLEMENTED
/// with it, since no device here has counters yet.
private func counterRequest(_ connection: magma_connection_t, _ check: () throws(MagmaError) -> Void = {}) -> magma_status_t {
    status { () throws(MagmaError) in
        try check()
        let opened = try lookUp(connection: connection)
        try opened.checkOpen()
        guard try opened.connection.isPerformanceCounterAccessAllowed() else {
            throw .accessDenied("performance-counter access was not enabled")
        }
        throw .unimplemented("this device has no performance counters")
    }
}

@c @implementation
public func magma_connection_enable_performance_counters(_ connection: magma_connection_t, _ counters: UnsafeMutablePointer<UInt64>?,
                                                         _ counters_count: UInt64) -> magma_status_t {
    counterRequest(connection) { () throws(MagmaError) in _ = try array(counters, counters_count, "counters") }
}

@c @implementation
public func magma_connection_create_performance_counter_buffer_pool(_ connection: magma_connection_t,
                                                                    _ pool_id_out: UnsafeMutablePointer<magma_perf_count_pool_t>?,
                                                                    _ notification_handle_out: UnsafeMutablePointer<magma_handle_t>?) -> magma_status_t {
    counterRequest(connection) { () throws(MagmaError) in
        _ = try required(pool_id_out, "pool_id_out")
        _ = try required(notification_handle_out, "notification_handle_out")
    }
}

@c @implementation
public func magma_connection_release_performance_counter_buffer_pool(_ connection: magma_connection_t,
                                                                     _ pool_id: magma_perf_count_pool_t) -> magma_status_t {
    counterRequest(connection)
}

@c @implementation
public func magma_connection_add_performance_counter_buffer_offsets_to_pool(_ connection: magma_connection_t, _ pool_id: magma_perf_count_pool_t,
                                                                            _ offsets: UnsafePointer<magma_buffer_offset_t>?,
                                                                            _ offsets_count: UInt64) -> magma_status_t {
    counterRequest(connection) { () throws(MagmaError) in _ = try array(offsets, offsets_count, "offsets") }
}

@c @implementation
public func magma_connection_remove_performance_counter_buffer_from_pool(_ connection: magma_connection_t, _ pool_id: magma_perf_count_pool_t,
                                                                         _ buffer: magma_buffer_t) -> magma_status_t {
    counterRequest(connection) { () throws(MagmaError) in _ = try lookUp(buffer: buffer, of: connection) }
}

@c @implementation
public func magma_connection_dump_performance_counters(_ connection: magma_connection_t, _ pool_id: magma_perf_count_pool_t,
                                                       _ trigger_id: UInt32) -> magma_status_t {
    counterRequest(connection)
}

@c @implementation
public func magma_connection_clear_performance_counters(_ connection: magma_connection_t, _ counters: UnsafeMutablePointer<UInt64>?,
                                                        _ counters_count: UInt64) -> magma_status_t {
    counterRequest(connection) { () throws(MagmaError) in _ = try array(counters, counters_count, "counters") }
}

@c @implementation
public func magma_connection_read_performance_counter_completion(_ connection: magma_connection_t, _ pool_id: magma_perf_count_pool_t,
                                                                 _ trigger_id_out: UnsafeMutablePointer<UInt32>?,
                                                                 _ buffer_id_out: UnsafeMutablePointer<UInt64>?,
                                                                 _ buffer_offset_out: UnsafeMutablePointer<UInt32>?,
                                                                 _ time_out: UnsafeMutablePointer<UInt64>?,
                                                                 _ result_flags_out: UnsafeMutablePointer<UInt32>?) -> magma_status_t {
    counterRequest(connection) { () throws(MagmaError) in
        _ = try required(trigger_id_out, "trigger_id_out")
        _ = try required(buffer_id_out, "buffer_id_out")
        _ = try required(buffer_offset_out, "buffer_offset_out")
        _ = try required(time_out, "time_out")
        _ = try required(result_flags_out, "result_flags_out")
    }
}
