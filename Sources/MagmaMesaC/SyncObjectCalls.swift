import CMagmaMesa
import Magma
import MagmaCSupport
import MagmaPlatform
import MagmaProtocol

/// The sync object behind a handle.
private func syncObject(_ handle: magma_sync_obj_t?) throws(MagmaError) -> SyncObject {
    try MesaHandles.lookUp(handle, in: MesaHandles.syncObjects, "sync object")
}

/// The header's capability bits for what a device's sync objects can do.
func capabilityFlags(_ capabilities: SyncCapabilities) -> magma_sync_capability_flags_t {
    var flags: magma_sync_capability_flags_t = 0
    if capabilities.contains(.binary) { flags |= MAGMA_SYNC_CAPABILITY_BINARY }
    if capabilities.contains(.timeline) { flags |= MAGMA_SYNC_CAPABILITY_TIMELINE }
    if capabilities.contains(.cpuWait) { flags |= MAGMA_SYNC_CAPABILITY_CPU_WAIT }
    if capabilities.contains(.cpuSignal) { flags |= MAGMA_SYNC_CAPABILITY_CPU_SIGNAL }
    if capabilities.contains(.exportSyncFile) { flags |= MAGMA_SYNC_CAPABILITY_EXPORT_SYNC_FD }
    if capabilities.contains(.importSyncFile) { flags |= MAGMA_SYNC_CAPABILITY_IMPORT_SYNC_FD }
    return flags
}

@c @implementation
public func magma_create_sync_obj(_ device: magma_device_t?, _ info: UnsafePointer<magma_create_sync_obj_info_t>?,
                                  _ sync_obj: UnsafeMutablePointer<magma_sync_obj_t?>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let request = try readExtensible(info, MAGMA_STRUCTURE_TYPE_CREATE_SYNC_OBJ_INFO, blank: magma_create_sync_obj_info_t(), "info")
        let out = try required(sync_obj, "sync_obj")
        let kind: SyncObjectKind
        switch request.sync_type {
        case MAGMA_SYNC_TYPE_BINARY:
            guard request.initial_value == 0 else { throw .invalidArgs("a binary sync object has no initial value") }
            kind = .binary
        case MAGMA_SYNC_TYPE_TIMELINE: kind = .timeline(initialValue: request.initial_value)
        default: throw .invalidArgs("unknown sync type \(request.sync_type)")
        }
        let made = try MesaHandles.lookUp(device, in: MesaHandles.devices, "device").createSyncObject(kind)
        out.pointee = MesaHandles.pointer(MesaHandles.syncObjects.insert(made))
    }
}

@c @implementation
public func magma_import_sync_obj(_ device: magma_device_t?, _ handle: UnsafePointer<magma_external_handle_t>?,
                                  _ sync_obj: UnsafeMutablePointer<magma_sync_obj_t?>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let descriptor = handle.flatMap { descriptorFromCaller($0.pointee.os_handle) }   // the library's from here on
        let entry = try required(handle, "handle").pointee
        let out = try required(sync_obj, "sync_obj")
        guard let descriptor else { throw .invalidArgs("handle \(entry.os_handle) is not an open descriptor") }
        let owner = try MesaHandles.lookUp(device, in: MesaHandles.devices, "device")
        let imported: SyncObject
        switch entry.handle_type {
        case MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD:
            imported = try owner.importSyncObject(descriptor)
        case MAGMA_HANDLE_TYPE_SIGNAL_SYNC_FD:
            // A new binary sync object holding the sync_file's fence (UNIMPLEMENTED where the
            // device has no sync_files).
            imported = try owner.createSyncObject(.binary)
            do throws(MagmaError) { try imported.importSyncFile(descriptor) } catch {
                try? imported.release()
                throw error
            }
        default: throw .invalidArgs("handle type 0x\(String(entry.handle_type, radix: 16)) is not a sync object")
        }
        out.pointee = MesaHandles.pointer(MesaHandles.syncObjects.insert(imported))
    }
}

@c @implementation
public func magma_sync_obj_close(_ sync_obj: magma_sync_obj_t?) {
    try? MesaHandles.syncObjects.remove(MesaHandles.number(sync_obj))?.release()
}

@c @implementation
public func magma_sync_obj_get_type(_ sync_obj: magma_sync_obj_t?, _ sync_type: UnsafeMutablePointer<magma_sync_type_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(sync_type, "sync_type")
        switch try syncObject(sync_obj).kind {
        case .binary: out.pointee = MAGMA_SYNC_TYPE_BINARY
        case .timeline: out.pointee = MAGMA_SYNC_TYPE_TIMELINE
        }
    }
}

@c @implementation
public func magma_sync_obj_signal(_ sync_obj: magma_sync_obj_t?) -> magma_status_t {
    status { () throws(MagmaError) in try syncObject(sync_obj).signal() }
}

@c @implementation
public func magma_sync_obj_reset(_ sync_obj: magma_sync_obj_t?) -> magma_status_t {
    status { () throws(MagmaError) in try syncObject(sync_obj).reset() }
}

@c @implementation
public func magma_sync_obj_wait(_ sync_obj: magma_sync_obj_t?, _ timeout_ns: UInt64) -> magma_status_t {
    status { () throws(MagmaError) in try syncObject(sync_obj).wait(timeoutNanoseconds: timeout_ns) }
}

@c @implementation
public func magma_sync_obj_timeline_signal(_ sync_obj: magma_sync_obj_t?, _ point: UInt64) -> magma_status_t {
    status { () throws(MagmaError) in try syncObject(sync_obj).signal(to: point) }
}

@c @implementation
public func magma_sync_obj_timeline_query(_ sync_obj: magma_sync_obj_t?, _ point: UnsafeMutablePointer<UInt64>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(point, "point")
        out.pointee = try syncObject(sync_obj).value()
    }
}

@c @implementation
public func magma_sync_obj_timeline_wait(_ sync_obj: magma_sync_obj_t?, _ point: UInt64, _ timeout_ns: UInt64) -> magma_status_t {
    status { () throws(MagmaError) in try syncObject(sync_obj).wait(for: point, timeoutNanoseconds: timeout_ns) }
}

@c @implementation
public func magma_sync_obj_wait_many(_ points: UnsafePointer<magma_sync_point_t>?, _ count: UInt32, _ flags: magma_wait_flags_t,
                                     _ timeout_ns: UInt64, _ first_index: UnsafeMutablePointer<UInt32>?) -> magma_status_t {
    status { () throws(MagmaError) in
        guard flags & ~MAGMA_WAIT_ALL == 0 else { throw .invalidArgs("unknown wait flags 0x\(String(flags, radix: 16))") }
        let waited = try syncPoints(points, count, "points")
        guard !waited.isEmpty else { throw .invalidArgs("no sync points to wait for") }
        if flags & MAGMA_WAIT_ALL != 0 {
            try SyncObject.waitAll(waited, timeoutNanoseconds: timeout_ns)
        } else {
            let index = try SyncObject.waitAny(waited, timeoutNanoseconds: timeout_ns)
            first_index?.pointee = UInt32(index)
        }
    }
}

@c @implementation
public func magma_sync_obj_export(_ sync_obj: magma_sync_obj_t?, _ handle_type: magma_handle_type_t,
                                  _ handle: UnsafeMutablePointer<magma_external_handle_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let out = try required(handle, "handle")
        let object = try syncObject(sync_obj)
        let descriptor: OwnedFileDescriptor
        switch handle_type {
        case MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD: descriptor = try object.export()
        case MAGMA_HANDLE_TYPE_SIGNAL_SYNC_FD: descriptor = try object.exportSyncFile()
        default: throw .invalidArgs("handle type 0x\(String(handle_type, radix: 16)) is not a sync object's")
        }
        out.pointee = magma_external_handle_t(os_handle: Int64(try descriptorForCaller(descriptor)), handle_type: handle_type, reserved: 0)
    }
}
