import CMagma
import Magma
import MagmaCSupport
import MagmaProtocol

@c @implementation
public func magma_connection_release(_ connection: magma_connection_t) {
    guard let released = Handles.connections.remove(connection)?.connection else { return }
    Handles.buffers.removeAll { $0.isOwned(by: released) }
    Handles.semaphores.removeAll { $0.isOwned(by: released) }
    released.release()
}

@c @implementation
public func magma_connection_get_error(_ connection: magma_connection_t) -> magma_status_t {
    status { () throws(MagmaError) in try lookUp(connection: connection).connection.checkOpen() }
}

@c @implementation
public func magma_connection_flush(_ connection: magma_connection_t) -> magma_status_t {
    status { () throws(MagmaError) in
        try lookUp(connection: connection).connection.flush()
    }
}

@c @implementation
public func magma_connection_get_notification_channel_handle(_ connection: magma_connection_t) -> magma_handle_t {
    guard let opened = Handles.connections.get(connection) else { return 0 }
    return magma_handle_t(bitPattern: opened.connection.notificationDescriptor.rawValue)
}

@c @implementation
public func magma_connection_read_notification_channel(_ connection: magma_connection_t, _ buffer: UnsafeMutableRawPointer?,
                                                       _ buffer_size: UInt64, _ buffer_size_out: UnsafeMutablePointer<UInt64>?,
                                                       _ more_data_out: UnsafeMutablePointer<magma_bool_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let sizeOut = try required(buffer_size_out, "buffer_size_out")
        let moreOut = try required(more_data_out, "more_data_out")
        let opened = try lookUp(connection: connection)
        guard let notification = try opened.nextNotification() else {
            sizeOut.pointee = 0
            moreOut.pointee = 0
            return
        }
        sizeOut.pointee = UInt64(notification.count)
        guard UInt64(notification.count) <= buffer_size else {
            opened.keep(notification)
            moreOut.pointee = 1
            throw .invalidArgs("notification of \(notification.count) bytes, buffer of \(buffer_size)")
        }
        guard let buffer else {
            opened.keep(notification)
            throw .invalidArgs("buffer is NULL")
        }
        notification.withUnsafeBytes { bytes in
            if let source = bytes.baseAddress { buffer.copyMemory(from: source, byteCount: bytes.count) }
        }
        moreOut.pointee = opened.hasMoreNotifications() ? 1 : 0
    }
}

@c @implementation
public func magma_connection_create_context2(_ connection: magma_connection_t, _ priority: magma_priority_t,
                                             _ context_id_out: UnsafeMutablePointer<UInt32>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(context_id_out, "context_id_out")
        try onConnection(connection) { (opened) throws(MagmaError) in
            let context = try opened.connection.createContext(priority: Priority(rawValue: priority))
            opened.add(context: context)
            out.pointee = context.id
        }
    }
}

@c @implementation
public func magma_connection_release_context(_ connection: magma_connection_t, _ context_id: UInt32) {
    voidCall(connection) { (opened) throws(MagmaError) in
        guard let context = opened.removeContext(context_id) else { throw .invalidArgs("release of unknown context \(context_id)") }
        try opened.connection.release(context)
    }
}

@c @implementation
public func magma_connection_execute_command(_ connection: magma_connection_t, _ context_id: UInt32,
                                             _ descriptor: UnsafeMutablePointer<magma_command_descriptor_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let command = try required(descriptor, "descriptor").pointee
        try onConnection(connection) { (opened) throws(MagmaError) in
            let context = try opened.context(context_id)
            let resources = try array(command.resources, UInt64(command.resource_count), "resources").map {
                BufferRange(bufferId: $0.buffer_id, offset: $0.offset, length: $0.length)
            }
            let commandBuffers = try array(command.command_buffers, UInt64(command.command_buffer_count), "command_buffers").map {
                CommandBufferEntry(resourceIndex: $0.resource_index, startOffset: $0.start_offset)
            }
            let waits = Int(command.wait_semaphore_count)
            let semaphores = try array(command.semaphore_ids, UInt64(command.wait_semaphore_count) + UInt64(command.signal_semaphore_count), "semaphore_ids")
            try opened.connection.execute(on: context, CommandDescriptor(
                resources: resources, commandBuffers: commandBuffers, waitSemaphores: Array(semaphores.prefix(waits)),
                signalSemaphores: Array(semaphores.dropFirst(waits)), flags: command.flags))
        }
    }
}

@c @implementation
public func magma_connection_execute_inline_commands(_ connection: magma_connection_t, _ context_id: UInt32, _ command_count: UInt64,
                                                     _ command_buffers: UnsafeMutablePointer<magma_inline_command_buffer_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        try onConnection(connection) { (opened) throws(MagmaError) in
            let context = try opened.context(context_id)
            let commands = try array(command_buffers, command_count, "command_buffers").map { (entry) throws(MagmaError) -> InlineCommand in
                guard entry.size <= CLimits.maxInlineBytes else { throw .invalidArgs("inline command of \(entry.size) bytes") }
                let data = entry.size == 0 ? [] : Array(UnsafeRawBufferPointer(start: try required(entry.data, "data"), count: Int(entry.size)))
                return InlineCommand(data: data, semaphores: try array(entry.semaphore_ids, UInt64(entry.semaphore_count), "semaphore_ids"))
            }
            try opened.connection.executeInline(on: context, commands)
        }
    }
}

/// Copies a C array, checking the pointer and the count first.
func array<T>(_ pointer: UnsafePointer<T>?, _ count: UInt64, _ name: String) throws(MagmaError) -> [T] {
    guard count > 0 else { return [] }
    guard count <= CLimits.maxArrayCount else { throw .invalidArgs("\(name): count \(count) too large") }
    return Array(UnsafeBufferPointer(start: try required(pointer, name), count: Int(count)))
}

func array<T>(_ pointer: UnsafeMutablePointer<T>?, _ count: UInt64, _ name: String) throws(MagmaError) -> [T] {
    try array(UnsafePointer(pointer), count, name)
}
