import CMagmaMesa
import Glibc
import Magma
import MagmaCSupport
import MagmaPlatform
import MagmaProtocol

@c @implementation
public func magma_create_buffer(_ device: magma_device_t?, _ info: UnsafePointer<magma_create_buffer_info_t>?,
                                _ buffer: UnsafeMutablePointer<magma_buffer_t?>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let request = try readExtensible(info, MAGMA_STRUCTURE_TYPE_CREATE_BUFFER_INFO, blank: magma_create_buffer_info_t(), "info")
        let out = try required(buffer, "buffer")
        guard request.flags & ~MAGMA_BUFFER_EXTERNAL == 0 else { throw .invalidArgs("unknown buffer flags 0x\(String(request.flags, radix: 16))") }
        let owner = try MesaHandles.lookUp(device, in: MesaHandles.devices, "device")
        let made = try owner.createBuffer(size: request.buffer_size, memoryTypeIndex: request.memory_type_index)
        out.pointee = MesaHandles.pointer(MesaHandles.buffers.insert(made))
    }
}

@c @implementation
public func magma_import_buffer(_ device: magma_device_t?, _ info: UnsafePointer<magma_import_buffer_info_t>?,
                                _ buffer: UnsafeMutablePointer<magma_buffer_t?>?) -> magma_status_t {
    status { () throws(MagmaError) in
        // The descriptor is the library's from here on, whatever happens (if the caller's
        // struct holds one: nothing past its size is read).
        let descriptor = info.flatMap { adoptHandle(in: $0) }
        let request = try readExtensible(info, MAGMA_STRUCTURE_TYPE_IMPORT_BUFFER_INFO, blank: magma_import_buffer_info_t(), "info")
        let out = try required(buffer, "buffer")
        guard let descriptor else { throw .invalidArgs("handle \(request.handle.os_handle) is not an open descriptor") }
        let kind = request.handle.handle_type
        guard kind == MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD || kind == MAGMA_HANDLE_TYPE_MEM_DMABUF else {
            throw .invalidArgs("handle type 0x\(String(kind, radix: 16)) is not memory")
        }
        guard (kind == MAGMA_HANDLE_TYPE_MEM_DMABUF) == SharedMemory.isDMABuf(descriptor.fileDescriptor) else {
            throw .invalidArgs("the descriptor is not of handle type 0x\(String(kind, radix: 16))")
        }
        let owner = try MesaHandles.lookUp(device, in: MesaHandles.devices, "device")
        let imported = try owner.importBuffer(descriptor, memoryTypeIndex: request.memory_type_index)
        out.pointee = MesaHandles.pointer(MesaHandles.buffers.insert(imported))
    }
}

@c @implementation
public func magma_buffer_close(_ buffer: magma_buffer_t?) {
    try? MesaHandles.buffers.remove(MesaHandles.number(buffer))?.release()
}

@c @implementation
public func magma_buffer_map_cpu(_ buffer: magma_buffer_t?, _ mapping: UnsafeMutablePointer<magma_cpu_mapping_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(mapping, "mapping")
        let bytes = try MesaHandles.lookUp(buffer, in: MesaHandles.buffers, "buffer").mapCPU()
        out.pointee = magma_cpu_mapping_t(address: bytes.baseAddress, size: UInt64(bytes.count))
    }
}

@c @implementation
public func magma_buffer_unmap_cpu(_ buffer: magma_buffer_t?) -> magma_status_t {
    status { () throws(MagmaError) in try MesaHandles.lookUp(buffer, in: MesaHandles.buffers, "buffer").unmapCPU() }
}

@c @implementation
public func magma_buffer_export(_ buffer: magma_buffer_t?, _ handle: UnsafeMutablePointer<magma_external_handle_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(handle, "handle")
        let descriptor = try MesaHandles.lookUp(buffer, in: MesaHandles.buffers, "buffer").export()
        let kind = SharedMemory.isDMABuf(descriptor.fileDescriptor) ? MAGMA_HANDLE_TYPE_MEM_DMABUF : MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD
        out.pointee = magma_external_handle_t(os_handle: Int64(try descriptorForCaller(descriptor)), handle_type: kind, reserved: 0)
    }
}

/// Takes ownership of the descriptor of an import info, if the size the caller declared holds
/// its handle and that is an open descriptor.
private func adoptHandle(in info: UnsafePointer<magma_import_buffer_info_t>) -> OwnedFileDescriptor? {
    let declared = UnsafeRawPointer(info).loadUnaligned(fromByteOffset: 4, as: UInt32.self)
    let end = MemoryLayout<magma_import_buffer_info_t>.offset(of: \.handle)! + MemoryLayout<magma_external_handle_t>.size
    guard declared >= end else { return nil }
    return descriptorFromCaller(info.pointee.handle.os_handle)
}
