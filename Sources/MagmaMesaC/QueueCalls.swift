import CMagmaMesa
import Magma
import MagmaCSupport
import MagmaProtocol

/// The priority magma_create_queue_info_t.priority names (Fuchsia's values; 0 means medium).
private func priority(_ value: UInt32) throws(MagmaError) -> Priority {
    if value == 0 { return .medium }
    let named = Priority(rawValue: UInt64(value))
    guard [Priority.low, .medium, .high, .realtime].contains(named) else { throw .invalidArgs("unknown priority \(value)") }
    return named
}

@c @implementation
public func magma_create_queue(_ device: magma_device_t?, _ address_space: magma_address_space_t?,
                               _ info: UnsafePointer<magma_create_queue_info_t>?, _ queue: UnsafeMutablePointer<magma_queue_t?>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let request = try readExtensible(info, MAGMA_STRUCTURE_TYPE_CREATE_QUEUE_INFO, blank: magma_create_queue_info_t(), "info")
        let out = try required(queue, "queue")
        let owner = try MesaHandles.lookUp(device, in: MesaHandles.devices, "device")
        let space = try MesaHandles.lookUp(address_space, in: MesaHandles.addressSpaces, "address space")
        let made = try owner.createQueue(in: space, family: request.queue_family_index, priority: try priority(request.priority))
        out.pointee = MesaHandles.pointer(MesaHandles.queues.insert(made))
    }
}

@c @implementation
public func magma_queue_close(_ queue: magma_queue_t?) {
    try? MesaHandles.queues.remove(MesaHandles.number(queue))?.release()
}

/// Bounds on the counts C callers pass, so a wild count is an error, not a huge allocation.
let maxSyncPoints: UInt32 = 1024

/// The sync points of a C array (`count` entries at `points`), looked up.
func syncPoints(_ points: UnsafePointer<magma_sync_point_t>?, _ count: UInt32, _ name: String) throws(MagmaError) -> [SyncObjectPoint] {
    guard count > 0 else { return [] }
    guard count <= maxSyncPoints else { throw .invalidArgs("\(name): \(count) sync points, at most \(maxSyncPoints)") }
    let points = try required(points, name)
    return try (0..<Int(count)).map { (index) throws(MagmaError) in
        let entry = points[index]
        let object = try MesaHandles.lookUp(entry.sync_obj, in: MesaHandles.syncObjects, "sync object in \(name)[\(index)]")
        return SyncObjectPoint(object, entry.point)
    }
}

/// Where a submission's commands are: the one magma_submit_buffer_info_t or
/// magma_submit_address_info_t chained from `next`.
private func commands(chainedFrom next: UnsafeRawPointer?) throws(MagmaError) -> SubmitInfo.Commands {
    var found: SubmitInfo.Commands?
    for link in try chain(from: next, "info.next") {
        let location: SubmitInfo.Commands
        switch link.stype {
        case MAGMA_STRUCTURE_TYPE_SUBMIT_BUFFER_INFO:
            let typed = link.pointer.assumingMemoryBound(to: magma_submit_buffer_info_t.self)
            let entry = try readExtensible(typed, link.stype, blank: magma_submit_buffer_info_t(), "submit buffer info")
            let buffer = try MesaHandles.lookUp(entry.command_buffer, in: MesaHandles.buffers, "command buffer")
            location = .buffer(buffer, offset: entry.start_offset, length: entry.length)
        case MAGMA_STRUCTURE_TYPE_SUBMIT_ADDRESS_INFO:
            let typed = link.pointer.assumingMemoryBound(to: magma_submit_address_info_t.self)
            let entry = try readExtensible(typed, link.stype, blank: magma_submit_address_info_t(), "submit address info")
            location = .gpuAddress(entry.command_address, length: entry.length)
        default:
            throw .invalidArgs("info.next: struct type \(link.stype) does not belong to a submission")
        }
        guard found == nil else { throw .invalidArgs("info.next names the commands twice") }
        found = location
    }
    guard let found else { throw .invalidArgs("info.next names no commands (a submit buffer or address info)") }
    return found
}

@c @implementation
public func magma_queue_submit(_ queue: magma_queue_t?, _ info: UnsafePointer<magma_submit_info_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let request = try readExtensible(info, MAGMA_STRUCTURE_TYPE_SUBMIT_INFO, blank: magma_submit_info_t(), "info")
        guard request.flags == 0 else { throw .invalidArgs("unknown submit flags 0x\(String(request.flags, radix: 16))") }
        let target = try MesaHandles.lookUp(queue, in: MesaHandles.queues, "queue")
        try target.submit(SubmitInfo(commands: try commands(chainedFrom: request.next),
                                     waits: try syncPoints(request.waits, request.wait_count, "waits"),
                                     signals: try syncPoints(request.signals, request.signal_count, "signals")))
    }
}

@c @implementation
public func magma_queue_check_status(_ queue: magma_queue_t?) -> magma_status_t {
    status { () throws(MagmaError) in
        switch try MesaHandles.lookUp(queue, in: MesaHandles.queues, "queue").checkStatus() {
        case .ok: return
        case .contextKilled: throw MagmaError(.contextKilled, "the queue's work failed")
        case .timedOut: throw MagmaError(.timedOut, "the device stopped answering")
        }
    }
}

/// The most operations one magma_queue_bind takes (the core's bound).
private let maxBindOperations = UInt32(BindSubmission.maxOperations)

@c @implementation
public func magma_queue_bind(_ queue: magma_queue_t?, _ info: UnsafePointer<magma_bind_info_t>?) -> magma_status_t {
    status { () throws(MagmaError) in
        let request = try readExtensible(info, MAGMA_STRUCTURE_TYPE_BIND_INFO, blank: magma_bind_info_t(), "info")
        guard request.next == nil else { throw .invalidArgs("info.next: a bind takes no chained structs") }
        guard (1...maxBindOperations).contains(request.operation_count) else {
            throw .invalidArgs("\(request.operation_count) bind operations; 1 to \(maxBindOperations)")
        }
        let entries = try required(request.operations, "operations")
        let target = try MesaHandles.lookUp(queue, in: MesaHandles.queues, "queue")
        let binds = try (0..<Int(request.operation_count)).map { (index) throws(MagmaError) -> AddressSpace.Bind in
            let entry = entries[index]
            switch entry.kind {
            case MAGMA_BIND_MAP:
                let buffer = try MesaHandles.lookUp(entry.buffer, in: MesaHandles.buffers, "buffer of operations[\(index)]")
                return .map(buffer, bufferOffset: entry.buffer_offset, gpuAddress: entry.gpu_address, size: entry.size,
                            flags: try mapFlags(entry.flags))
            case MAGMA_BIND_UNMAP:
                guard entry.buffer == nil, entry.flags == 0, entry.buffer_offset == 0 else {
                    throw .invalidArgs("operations[\(index)]: an unmap names no buffer, offset or flags")
                }
                return .unmap(gpuAddress: entry.gpu_address, size: entry.size)
            default:
                throw .invalidArgs("operations[\(index)]: unknown bind kind \(entry.kind)")
            }
        }
        try target.bind(binds, waits: try syncPoints(request.waits, request.wait_count, "waits"),
                        signals: try syncPoints(request.signals, request.signal_count, "signals"))
    }
}
