import CMagma
import Glibc
import MagmaDevices
import MagmaSocket
import MagmaCSupport
import MagmaPlatform
import MagmaProtocol

@c @implementation
public func magma_device_import(_ device_channel: magma_handle_t, _ device_out: UnsafeMutablePointer<magma_device_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let descriptor = try adopt(device_channel)
        let out = try required(device_out, "device_out")
        let device = try Device.open(.backend(try SocketDeviceTransport(adopting: descriptor)))
        out.pointee = Handles.devices.insert(CDevice(device))
    }
}

@c @implementation
public func magma_device_open(_ path: UnsafePointer<CChar>?, _ device_out: UnsafeMutablePointer<magma_device_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let path = String(cString: try required(path, "path"))
        let out = try required(device_out, "device_out")
        let device = try Device.open(.named(path))
        out.pointee = Handles.devices.insert(CDevice(device))
    }
}

@c @implementation
public func magma_device_release(_ device: magma_device_t) {
    Handles.devices.remove(device)
}

@c @implementation
public func magma_enumerate_devices(_ device_namespace: UnsafePointer<CChar>?, _ device_directory_channel: magma_handle_t,
                                    _ device_count_inout: UnsafeMutablePointer<UInt32>?, _ device_path_size: UInt32,
                                    _ device_paths_out: UnsafeMutablePointer<CChar>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let count = try required(device_count_inout, "device_count_inout")
        let paths = try required(device_paths_out, "device_paths_out")
        let requested = device_namespace.map { String(cString: $0) } ?? ""
        let directory = requested.isEmpty ? RuntimeDirectory.current : requested
        let devices = DeviceLocator.availableNames(in: directory)
        guard devices.count <= Int(count.pointee) else { throw .memoryError("\(devices.count) devices, room for \(count.pointee)") }
        for device in devices where device.utf8.count >= Int(device_path_size) {
            throw .invalidArgs("path \(device) does not fit in \(device_path_size) bytes")
        }
        for (index, device) in devices.enumerated() {
            let slot = paths + index * Int(device_path_size)
            let bytes = Array(device.utf8CString)
            bytes.withUnsafeBufferPointer { slot.update(from: $0.baseAddress!, count: bytes.count) }
        }
        count.pointee = UInt32(devices.count)
    }
}

@c @implementation
public func magma_device_query(_ device: magma_device_t, _ id: UInt64, _ result_buffer_out: UnsafeMutablePointer<magma_handle_t>?,
                               _ result_out: UnsafeMutablePointer<UInt64>?) -> magma_status_t {
    status { () throws(MagmaError) in
        guard result_buffer_out != nil || result_out != nil else { throw .invalidArgs("both outputs are NULL") }
        guard let opened = Handles.devices.get(device) else { throw .invalidArgs("unknown device \(device)") }
        switch try opened.device.query(QueryId(rawValue: id)) {
        case .value(let value):
            let out = try required(result_out, "result_out")
            out.pointee = value
            result_buffer_out?.pointee = magma_handle_t.max
        case .buffer(let memory):
            let out = try required(result_buffer_out, "result_buffer_out")
            guard let descriptor = memory.descriptor else { throw .internalError("the query's answer is memory with no descriptor") }
            out.pointee = try handOver(descriptor)
            result_out?.pointee = 0
        }
    }
}

@c @implementation
public func magma_device_create_connection(_ device: magma_device_t, _ connection_out: UnsafeMutablePointer<magma_connection_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(connection_out, "connection_out")
        guard let opened = Handles.devices.get(device) else { throw .invalidArgs("unknown device \(device)") }
        out.pointee = Handles.connections.insert(CConnection(try opened.device.createConnection()))
    }
}

@c @implementation
public func magma_initialize_tracing(_ channel: magma_handle_t) -> magma_status_t {
    discard(channel)
    return MAGMA_STATUS_OK
}

@c @implementation
public func magma_initialize_logging(_ channel: magma_handle_t) -> magma_status_t {
    discard(channel)
    return MAGMA_STATUS_OK
}
