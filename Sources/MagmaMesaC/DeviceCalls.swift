import CMagmaMesa
import Magma
import MagmaCSupport
import MagmaProtocol

@c @implementation
public func magma_device_close(_ device: magma_device_t?) {
    guard let closed = MesaHandles.devices.remove(MesaHandles.number(device)) else { return }
    MesaHandles.forgetObjects(of: closed)
    closed.release()
}

@c @implementation
public func magma_get_memory_budget(_ device: magma_device_t?, _ heap_index: UInt32,
                                    _ budget: UnsafeMutablePointer<magma_heap_budget_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let output = try ExtensibleOutput(budget, MAGMA_STRUCTURE_TYPE_HEAP_BUDGET, "budget")
        let answer = try MesaHandles.lookUp(device, in: MesaHandles.devices, "device").memoryBudget(heap: heap_index)
        var value = magma_heap_budget_t()
        value.budget = answer.budget
        value.usage = answer.usage
        output.write(value)
    }
}

@c @implementation
public func magma_get_sync_properties(_ device: magma_device_t?, _ properties: UnsafeMutablePointer<magma_sync_properties_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let output = try ExtensibleOutput(properties, MAGMA_STRUCTURE_TYPE_SYNC_PROPERTIES, "properties")
        let capabilities = try MesaHandles.lookUp(device, in: MesaHandles.devices, "device").syncCapabilities
        var value = magma_sync_properties_t()
        value.capabilities = capabilityFlags(capabilities)
        value.max_timeline_value_difference = UInt64.max
        output.write(value)
    }
}

@c @implementation
public func magma_create_address_space(_ device: magma_device_t?, _ address_space: UnsafeMutablePointer<magma_address_space_t?>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(address_space, "address_space")
        let space = try MesaHandles.lookUp(device, in: MesaHandles.devices, "device").createAddressSpace()
        out.pointee = MesaHandles.pointer(MesaHandles.addressSpaces.insert(space))
    }
}

@c @implementation
public func magma_address_space_close(_ address_space: magma_address_space_t?) {
    guard let closed = MesaHandles.addressSpaces.remove(MesaHandles.number(address_space)) else { return }
    MesaHandles.queues.removeAll { $0.addressSpace === closed }
    closed.release()
}

@c @implementation
public func magma_map_buffer_gpu(_ address_space: magma_address_space_t?, _ buffer: magma_buffer_t?, _ buffer_offset: UInt64,
                                 _ gpu_address: UInt64, _ size: UInt64, _ flags: magma_gpu_map_flags_t) -> magma_status_t {
    status { () throws(MagmaError) in
        let space = try MesaHandles.lookUp(address_space, in: MesaHandles.addressSpaces, "address space")
        let mapped = try MesaHandles.lookUp(buffer, in: MesaHandles.buffers, "buffer")
        try space.map(mapped, bufferOffset: buffer_offset, gpuAddress: gpu_address, size: size, flags: try mapFlags(flags))
    }
}

@c @implementation
public func magma_unmap_buffer_gpu(_ address_space: magma_address_space_t?, _ gpu_address: UInt64, _ size: UInt64) -> magma_status_t {
    status { () throws(MagmaError) in
        try MesaHandles.lookUp(address_space, in: MesaHandles.addressSpaces, "address space").unmap(gpuAddress: gpu_address, size: size)
    }
}

/// The core's access flags for the header's; INVALID_ARGS for bits the header does not define.
func mapFlags(_ flags: magma_gpu_map_flags_t) throws(MagmaError) -> MapFlags {
    let known = MAGMA_GPU_MAP_READ | MAGMA_GPU_MAP_WRITE | MAGMA_GPU_MAP_EXECUTE
    guard flags & ~known == 0 else { throw .invalidArgs("unknown map flags 0x\(String(flags & ~known, radix: 16))") }
    var access: MapFlags = []
    if flags & MAGMA_GPU_MAP_READ != 0 { access.insert(.read) }
    if flags & MAGMA_GPU_MAP_WRITE != 0 { access.insert(.write) }
    if flags & MAGMA_GPU_MAP_EXECUTE != 0 { access.insert(.execute) }
    return access
}
