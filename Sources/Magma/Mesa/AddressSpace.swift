import MagmaPlatform
import MagmaProtocol

/// A GPU address space of a logical device (Mesa's `MagmaAddressSpace`): the memory-isolation
/// boundary. Work on its queues reaches only the buffers mapped in it.
///
/// It is a connection of its own to the physical device (the Fuchsia face's private address
/// space); a failure of its work (a GPU fault, a killed context) closes it, its queues report
/// it, and the device's other address spaces go on.
public final class AddressSpace: Sendable {
    /// The device that created it.
    public let device: LogicalDevice
    /// Its connection.
    let connection: Connection
    private let mappings = Locked<[AddressSpaceMapping]>([])

    init(device: LogicalDevice, connection: Connection) {
        self.device = device
        self.connection = connection
    }

    /// The connection's error as known now (no round trip), or nil while healthy.
    public var error: MagmaError? { connection.error }

    /// Closes the address space: its connection, with its queues and the imports of the
    /// device's buffers and sync objects into it. Later calls on it and its queues throw.
    public func release() { connection.release() }

    /// Maps `size` bytes of `buffer` from `bufferOffset` at `gpuAddress` with `flags` (read,
    /// write, execute). The buffer must be its device's; the offset, the address and the size
    /// must be whole pages, the range must lie inside the buffer, and it must not overlap a
    /// mapping already in this address space: INVALID_ARGS otherwise, and nothing changes. The
    /// buffer's first use here imports it as memory of its type, which counts against the
    /// type's heap: MEMORY_ERROR past its budget, and nothing changes.
    public func map(_ buffer: DeviceBuffer, bufferOffset: UInt64 = 0, gpuAddress: UInt64, size: UInt64, flags: MapFlags) throws(MagmaError) {
        try connection.checkOpen()
        let lastAddress = try checkMapping(of: buffer, bufferOffset: bufferOffset, gpuAddress: gpuAddress, size: size)
        let instance = try buffer.instance(in: self)
        let mapping = AddressSpaceMapping(gpuAddress: gpuAddress, size: size, buffer: instance)
        // The range is taken first, then mapped with no lock held (a send to magmad may wait
        // for flow control); a map the core refuses gives it back.
        try mappings.withLock { (mappings) throws(MagmaError) in
            mappings.removeAll { $0.buffer.isReleased }
            if let other = mappings.first(where: { $0.gpuAddress < lastAddress && gpuAddress < $0.gpuAddress + $0.size }) {
                throw .invalidArgs("mapping at \(gpuAddress) of \(size) bytes overlaps the one at \(other.gpuAddress) of \(other.size)")
            }
            mappings.append(mapping)
        }
        do { try connection.map(instance, at: gpuAddress, offset: bufferOffset, length: size, flags: flags) } catch {
            mappings.withLock { mappings in mappings.removeAll { $0.gpuAddress == gpuAddress && $0.buffer === instance } }
            throw error
        }
    }

    /// Checks a mapping's arguments on their own (the buffer is the device's; offset, address
    /// and size whole pages; the range inside the buffer and the address space's numbers);
    /// returns the address just past it. INVALID_ARGS otherwise.
    private func checkMapping(of buffer: DeviceBuffer, bufferOffset: UInt64, gpuAddress: UInt64, size: UInt64) throws(MagmaError) -> UInt64 {
        try device.checkOwns(buffer.device, "buffer")
        guard size > 0 else { throw .invalidArgs("mapping of 0 bytes") }
        for (value, name) in [(bufferOffset, "buffer offset"), (gpuAddress, "GPU address"), (size, "size")] where !SharedMemory.isPageAligned(value) {
            throw .invalidArgs("\(name) \(value) is not a multiple of the page size \(SharedMemory.pageSize)")
        }
        let (end, overflow) = bufferOffset.addingReportingOverflow(size)
        guard !overflow, end <= buffer.size else {
            throw .invalidArgs("mapping of \(bufferOffset)+\(size) passes the end of a buffer of \(buffer.size) bytes")
        }
        let (lastAddress, addressOverflow) = gpuAddress.addingReportingOverflow(size)
        guard !addressOverflow else { throw .invalidArgs("mapping at \(gpuAddress) of \(size) bytes passes the end of the address space") }
        return lastAddress
    }

    /// One operation of a bind (`Queue.bind`): a change of this address space that takes effect
    /// when the bind runs.
    public enum Bind: Sendable {
        /// Maps `size` bytes of `buffer` from `bufferOffset` at `gpuAddress`, as `map` does.
        case map(DeviceBuffer, bufferOffset: UInt64 = 0, gpuAddress: UInt64, size: UInt64, flags: MapFlags)
        /// Removes the mapping at `gpuAddress` of `size` bytes, as `unmap` does.
        case unmap(gpuAddress: UInt64, size: UInt64)
    }

    /// Checks `binds` against the address space as it will be once they have run in order
    /// (this table already holds what earlier binds will make), records that state, and
    /// returns them as the core's operations (buffers by their imports here, imported on first
    /// use). INVALID_ARGS for what `map` and `unmap` refuse, and then nothing changes.
    func plan(_ binds: [Bind]) throws(MagmaError) -> [BindOperation] {
        var imports: [Buffer?] = []
        for bind in binds {
            switch bind {
            case .map(let buffer, let bufferOffset, let gpuAddress, let size, _):
                _ = try checkMapping(of: buffer, bufferOffset: bufferOffset, gpuAddress: gpuAddress, size: size)
                imports.append(try buffer.instance(in: self))   // a core call: no lock held
            case .unmap: imports.append(nil)
            }
        }
        return try mappings.withLock { (mappings) throws(MagmaError) -> [BindOperation] in
            var planned = mappings.filter { !$0.buffer.isReleased }
            var operations: [BindOperation] = []
            for (bind, instance) in zip(binds, imports) {
                switch bind {
                case .map(_, let bufferOffset, let gpuAddress, let size, let flags):
                    guard let instance else { continue }
                    if let other = planned.first(where: { $0.gpuAddress < gpuAddress + size && gpuAddress < $0.gpuAddress + $0.size }) {
                        throw .invalidArgs("bind map at \(gpuAddress) of \(size) bytes overlaps the mapping at \(other.gpuAddress) of \(other.size)")
                    }
                    planned.append(AddressSpaceMapping(gpuAddress: gpuAddress, size: size, buffer: instance))
                    operations.append(BindOperation(kind: .map, bufferId: instance.id, offset: bufferOffset, length: size,
                                                    gpuAddress: gpuAddress, flags: flags))
                case .unmap(let gpuAddress, let size):
                    guard let index = planned.firstIndex(where: { $0.gpuAddress == gpuAddress }) else {
                        throw .invalidArgs("bind unmap: nothing is mapped at \(gpuAddress)")
                    }
                    guard planned[index].size == size else {
                        throw .invalidArgs("bind unmap: the mapping at \(gpuAddress) is \(planned[index].size) bytes, not \(size)")
                    }
                    planned.remove(at: index)
                    operations.append(BindOperation(kind: .unmap, bufferId: 0, offset: 0, length: size, gpuAddress: gpuAddress, flags: []))
                }
            }
            mappings = planned
            return operations
        }
    }

    /// Removes the mapping at `gpuAddress` of `size` bytes: exactly one `map` made (Magma
    /// removes whole mappings). Anything else is INVALID_ARGS and changes nothing. Unmapping
    /// what in-flight work uses closes the address space with BAD_STATE. A client runs `map`
    /// and `unmap` of one range on one thread at a time (the order of the two requests is
    /// otherwise its threads').
    public func unmap(gpuAddress: UInt64, size: UInt64) throws(MagmaError) {
        try connection.checkOpen()
        let mapping = try mappings.withLock { (mappings) throws(MagmaError) -> AddressSpaceMapping in
            mappings.removeAll { $0.buffer.isReleased }
            guard let index = mappings.firstIndex(where: { $0.gpuAddress == gpuAddress }) else {
                throw .invalidArgs("nothing is mapped at \(gpuAddress)")
            }
            guard mappings[index].size == size else {
                throw .invalidArgs("the mapping at \(gpuAddress) is \(mappings[index].size) bytes, not \(size)")
            }
            return mappings.remove(at: index)
        }
        // Throws only when the connection has closed or the buffer was released meanwhile:
        // either way the mapping is gone.
        try connection.unmap(mapping.buffer, at: gpuAddress)
    }

    /// The buffers mapped here now (each once): the resources of every submission on its
    /// queues, so work uses them in flight, as a VM_BIND address space's bound memory is.
    var mappedBuffers: [Buffer] {
        mappings.withLock { mappings in
            var buffers: [Buffer] = []
            for mapping in mappings where !mapping.buffer.isReleased && !buffers.contains(where: { $0 === mapping.buffer }) {
                buffers.append(mapping.buffer)
            }
            return buffers
        }
    }

    /// Drops the mappings of a device buffer's import `instance` and releases it: the device's
    /// buffer is being released. A mapping whose import is released counts as gone everywhere
    /// here, so one a concurrent `map` adds meanwhile is dropped too.
    func forget(_ instance: Buffer) {
        mappings.withLock { mappings in mappings.removeAll { $0.buffer === instance } }
        // A closed connection released the import with everything else.
        try? connection.release(instance)
    }
}

/// One mapping of an address space: its GPU range and the import of the buffer it maps.
private struct AddressSpaceMapping {
    let gpuAddress: UInt64
    let size: UInt64
    let buffer: Buffer
}
