import CMagmaMesa
import Magma
import MagmaCSupport
import MagmaDevices
import MagmaPlatform
import MagmaProtocol

@c @implementation
public func magma_enumerate_physical_devices(_ devices: UnsafeMutablePointer<magma_physical_device_t?>?,
                                             _ count: UnsafeMutablePointer<UInt32>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let count = try required(count, "count")
        let found = PhysicalDevice.enumerate().prefix(Int(MAGMA_MAX_PHYSICAL_DEVICES))
        guard let devices else {
            count.pointee = UInt32(found.count)
            return
        }
        let written = found.prefix(Int(count.pointee))
        for (index, device) in written.enumerated() {
            devices[index] = MesaHandles.pointer(MesaHandles.physicalDevices.insert(device))
        }
        count.pointee = UInt32(written.count)
    }
}

@c @implementation
public func magma_physical_device_close(_ physical_device: magma_physical_device_t?) {
    MesaHandles.physicalDevices.remove(MesaHandles.number(physical_device))
}

@c @implementation
public func magma_get_physical_device_info(_ physical_device: magma_physical_device_t?,
                                           _ info: UnsafeMutablePointer<magma_physical_device_info_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let output = try ExtensibleOutput(info, MAGMA_STRUCTURE_TYPE_PHYSICAL_DEVICE_INFO, "info")
        let device = try MesaHandles.lookUp(physical_device, in: MesaHandles.physicalDevices, "physical device").info
        var value = magma_physical_device_info_t()
        // The bus as the core's info has it (MagmaDRM's from sysfs; SoftGPU has none: unknown);
        // the PCI fields only for a PCI device, 0 otherwise.
        value.bus_type = magma_bus_type_t(device.bus.type.rawValue)
        if let address = device.bus.pciAddress {
            value.pci_domain = address.domain
            value.pci_bus = UInt32(address.bus)
            value.pci_device = UInt32(address.device)
            value.pci_function = UInt32(address.function)
        }
        value.vendor_id = device.vendorId
        value.device_id = device.deviceId
        copyName(device.name, into: &value.name, capacity: Int(MAGMA_MAX_NAME_SIZE))
        copyName(device.driverName, into: &value.driver, capacity: Int(MAGMA_MAX_NAME_SIZE))
        value.address_space_size = device.limits.addressSpaceSize
        value.page_size = device.limits.pageSize
        value.max_allocation_size = device.limits.maxAllocationSize
        output.write(value)
    }
}

@c @implementation
public func magma_get_memory_properties(_ physical_device: magma_physical_device_t?,
                                        _ properties: UnsafeMutablePointer<magma_memory_properties_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let output = try ExtensibleOutput(properties, MAGMA_STRUCTURE_TYPE_MEMORY_PROPERTIES, "properties")
        let memory = try MesaHandles.lookUp(physical_device, in: MesaHandles.physicalDevices, "physical device").memoryProperties
        guard memory.types.count <= Int(MAGMA_MAX_MEMORY_TYPES), memory.heaps.count <= Int(MAGMA_MAX_MEMORY_HEAPS) else {
            throw .internalError("the device has \(memory.types.count) memory types and \(memory.heaps.count) heaps, more than the header holds")
        }
        var value = magma_memory_properties_t()
        value.memory_type_count = UInt32(memory.types.count)
        value.memory_heap_count = UInt32(memory.heaps.count)
        withUnsafeMutableBytes(of: &value.memory_types) { bytes in
            let types = bytes.bindMemory(to: magma_memory_type_t.self)
            for (index, type) in memory.types.enumerated() {
                types[index] = magma_memory_type_t(property_flags: type.propertyFlags.rawValue, heap_index: type.heapIndex)
            }
        }
        withUnsafeMutableBytes(of: &value.memory_heaps) { bytes in
            let heaps = bytes.bindMemory(to: magma_memory_heap_t.self)
            for (index, heap) in memory.heaps.enumerated() {
                heaps[index] = magma_memory_heap_t(size: heap.size, flags: heap.flags.rawValue, reserved: 0)
            }
        }
        output.write(value)
    }
}

@c @implementation
public func magma_get_queue_family_properties(_ physical_device: magma_physical_device_t?, _ count: UnsafeMutablePointer<UInt32>?,
                                              _ families: UnsafeMutablePointer<magma_queue_family_properties_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let count = try required(count, "count")
        let known = try MesaHandles.lookUp(physical_device, in: MesaHandles.physicalDevices, "physical device").queueFamilies
        guard let families else {
            count.pointee = UInt32(known.count)
            return
        }
        let written = known.prefix(Int(count.pointee))
        let outputs = try ExtensibleOutput.array(families, count: written.count, MAGMA_STRUCTURE_TYPE_QUEUE_FAMILY_PROPERTIES, "families")
        for (output, family) in zip(outputs, written) {
            var value = magma_queue_family_properties_t()
            value.queue_flags = family.flags.rawValue
            value.queue_count = family.count
            output.write(value)
        }
        count.pointee = UInt32(written.count)
    }
}

@c @implementation
public func magma_create_device(_ physical_device: magma_physical_device_t?, _ device: UnsafeMutablePointer<magma_device_t?>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(device, "device")
        let physical = try MesaHandles.lookUp(physical_device, in: MesaHandles.physicalDevices, "physical device")
        out.pointee = MesaHandles.pointer(MesaHandles.devices.insert(try physical.createDevice()))
    }
}
