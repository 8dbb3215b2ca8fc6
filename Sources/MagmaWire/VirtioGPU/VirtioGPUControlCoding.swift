extension VirtioGPU {
    /// Encodes a command with its header (the header's `type` is set from the command).
    public static func encode(_ header: ControlHeader, _ command: Command) -> [UInt8] {
        var out = ByteWriter()
        var header = header
        header.type = command.type
        out.header(header)
        switch command {
        case .getCapsetInfo(let index): out.u32(index); out.u32(0)
        case .getCapset(let id, let version): out.u32(id); out.u32(version)
        case .contextCreate(let contextInit, let name):
            let name = name.prefix(64)
            out.u32(UInt32(name.count)); out.u32(contextInit)
            out.bytes(Array(name) + Array(repeating: 0, count: 64 - name.count))
        case .contextDestroy, .unsupported: break
        case .contextAttachResource(let id), .contextDetachResource(let id), .resourceDetachBacking(let id), .resourceUnref(let id):
            out.u32(id); out.u32(0)
        case .resourceCreate3D(let r):
            for value in [r.resourceId, r.target, r.format, r.bind, r.width, r.height, r.depth, r.arraySize,
                          r.lastLevel, r.sampleCount, r.flags, 0] { out.u32(value) }
        case .resourceAttachBacking(let id, let entries):
            out.u32(id); out.u32(UInt32(entries.count))
            out.entries(entries)
        case .resourceCreateBlob(let blob):
            out.u32(blob.resourceId); out.u32(blob.memory); out.u32(blob.flags); out.u32(UInt32(blob.entries.count))
            out.u64(blob.blobId); out.u64(blob.size)
            out.entries(blob.entries)
        case .submit3D(let commands):
            out.u32(UInt32(commands.count)); out.u32(0); out.bytes(commands)
        }
        return out.bytes
    }

    /// Decodes a command. Unknown types decode as `.unsupported`; malformed known ones throw.
    public static func decodeCommand(_ bytes: [UInt8]) throws(DecodeError) -> (ControlHeader, Command) {
        var input = ByteReader(bytes)
        let header = try input.header()
        let command: Command
        switch ControlType(rawValue: header.type) {
        case .getCapsetInfo: command = .getCapsetInfo(index: try input.u32()); _ = try input.u32()
        case .getCapset: command = .getCapset(id: try input.u32(), version: try input.u32())
        case .contextCreate:
            let length = try input.u32()
            let contextInit = try input.u32()
            let name = try input.bytes(64)
            guard length <= 64 else { throw .invalid("ctx_create nlen \(length) exceeds 64") }
            command = .contextCreate(contextInit: contextInit, debugName: Array(name.prefix(Int(length))))
        case .contextDestroy: command = .contextDestroy
        case .contextAttachResource: command = .contextAttachResource(resourceId: try input.u32()); _ = try input.u32()
        case .contextDetachResource: command = .contextDetachResource(resourceId: try input.u32()); _ = try input.u32()
        case .resourceDetachBacking: command = .resourceDetachBacking(resourceId: try input.u32()); _ = try input.u32()
        case .resourceUnref: command = .resourceUnref(resourceId: try input.u32()); _ = try input.u32()
        case .resourceCreate3D:
            var v: [UInt32] = []
            for _ in 0..<12 { v.append(try input.u32()) }
            command = .resourceCreate3D(Resource3D(resourceId: v[0], target: v[1], format: v[2], bind: v[3], width: v[4],
                                                   height: v[5], depth: v[6], arraySize: v[7], lastLevel: v[8],
                                                   sampleCount: v[9], flags: v[10]))
        case .resourceAttachBacking:
            let id = try input.u32()
            let count = try input.u32()
            command = .resourceAttachBacking(resourceId: id, entries: try input.entries(count))
        case .resourceCreateBlob:
            let id = try input.u32()
            let memory = try input.u32()
            let flags = try input.u32()
            let count = try input.u32()
            let blobId = try input.u64()
            let size = try input.u64()
            command = .resourceCreateBlob(Blob(resourceId: id, memory: memory, flags: flags, blobId: blobId, size: size,
                                               entries: try input.entries(count)))
        case .submit3D:
            let size = try input.u32()
            let inFences = try input.u32()
            guard inFences == 0 else { throw .invalid("submit_3d carries \(inFences) in-fences: fence passing is not offered") }
            command = .submit3D(commands: try input.bytes(Int(size)))
        default: command = .unsupported(type: header.type)
        }
        return (header, command)
    }

    /// Decodes only the header of a command or response.
    public static func decodeHeader(_ bytes: [UInt8]) throws(DecodeError) -> ControlHeader {
        var input = ByteReader(bytes)
        return try input.header()
    }

    /// Encodes a response with its header (the header's `type` is set from the response).
    public static func encode(_ header: ControlHeader, _ response: Response) -> [UInt8] {
        var out = ByteWriter()
        var header = header
        header.type = response.type
        out.header(header)
        switch response {
        case .okNoData, .error: break
        case .okCapsetInfo(let id, let maxVersion, let maxSize): out.u32(id); out.u32(maxVersion); out.u32(maxSize); out.u32(0)
        case .okCapset(let data): out.bytes(data)
        }
        return out.bytes
    }

    /// Decodes a response; an unknown type throws.
    public static func decodeResponse(_ bytes: [UInt8]) throws(DecodeError) -> (ControlHeader, Response) {
        var input = ByteReader(bytes)
        let header = try input.header()
        switch ControlType(rawValue: header.type) {
        case .okNoData: return (header, .okNoData)
        case .okCapsetInfo:
            let response = Response.okCapsetInfo(id: try input.u32(), maxVersion: try input.u32(), maxSize: try input.u32())
            _ = try input.u32()
            return (header, response)
        case .okCapset: return (header, .okCapset(data: input.rest()))
        case .some(let type) where type.rawValue >= 0x1200: return (header, .error(type))
        default: throw .invalid("response type 0x\(String(header.type, radix: 16)) is not one this model knows")
        }
    }
}

extension VirtioGPU.Command {
    /// The `virtio_gpu_ctrl_type` of this command.
    public var type: UInt32 {
        switch self {
        case .getCapsetInfo: VirtioGPU.ControlType.getCapsetInfo.rawValue
        case .getCapset: VirtioGPU.ControlType.getCapset.rawValue
        case .contextCreate: VirtioGPU.ControlType.contextCreate.rawValue
        case .contextDestroy: VirtioGPU.ControlType.contextDestroy.rawValue
        case .contextAttachResource: VirtioGPU.ControlType.contextAttachResource.rawValue
        case .contextDetachResource: VirtioGPU.ControlType.contextDetachResource.rawValue
        case .resourceCreate3D: VirtioGPU.ControlType.resourceCreate3D.rawValue
        case .resourceAttachBacking: VirtioGPU.ControlType.resourceAttachBacking.rawValue
        case .resourceCreateBlob: VirtioGPU.ControlType.resourceCreateBlob.rawValue
        case .resourceDetachBacking: VirtioGPU.ControlType.resourceDetachBacking.rawValue
        case .resourceUnref: VirtioGPU.ControlType.resourceUnref.rawValue
        case .submit3D: VirtioGPU.ControlType.submit3D.rawValue
        case .unsupported(let type): type
        }
    }
}

extension VirtioGPU.Response {
    /// The `virtio_gpu_ctrl_type` of this response.
    public var type: UInt32 {
        switch self {
        case .okNoData: VirtioGPU.ControlType.okNoData.rawValue
        case .okCapsetInfo: VirtioGPU.ControlType.okCapsetInfo.rawValue
        case .okCapset: VirtioGPU.ControlType.okCapset.rawValue
        case .error(let type): type.rawValue
        }
    }
}

/// Appends little-endian values.
private struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func bytes(_ more: [UInt8]) { bytes.append(contentsOf: more) }

    mutating func entries(_ entries: [VirtioGPU.MemoryEntry]) {
        for entry in entries { u64(entry.address); u32(entry.length); u32(0) }
    }

    mutating func header(_ header: VirtioGPU.ControlHeader) {
        u32(header.type); u32(header.flags); u64(header.fenceId); u32(header.contextId)
        bytes.append(contentsOf: [header.ringIndex, 0, 0, 0])
    }
}

/// Reads little-endian values, checking each length first.
private struct ByteReader {
    let source: [UInt8]
    var offset = 0

    init(_ source: [UInt8]) { self.source = source }

    func need(_ count: Int) throws(VirtioGPU.DecodeError) {
        guard count >= 0, source.count - offset >= count else {
            throw .truncated(needed: offset + max(count, 0), available: source.count)
        }
    }

    mutating func u32() throws(VirtioGPU.DecodeError) -> UInt32 {
        try need(4)
        defer { offset += 4 }
        return (0..<4).reduce(0) { $0 | UInt32(source[offset + $1]) << (8 * $1) }
    }

    mutating func u64() throws(VirtioGPU.DecodeError) -> UInt64 {
        let low = UInt64(try u32())
        return low | UInt64(try u32()) << 32
    }

    mutating func bytes(_ count: Int) throws(VirtioGPU.DecodeError) -> [UInt8] {
        try need(count)
        defer { offset += count }
        return Array(source[offset..<(offset + count)])
    }

    /// `count` memory entries, the count checked against the limit and the bytes first.
    mutating func entries(_ count: UInt32) throws(VirtioGPU.DecodeError) -> [VirtioGPU.MemoryEntry] {
        guard count <= VirtioGPU.maxMemoryEntries else {
            throw .invalid("nr_entries \(count) exceeds \(VirtioGPU.maxMemoryEntries)")
        }
        try need(Int(count) * VirtioGPU.MemoryEntry.byteCount)
        var entries: [VirtioGPU.MemoryEntry] = []
        entries.reserveCapacity(Int(count))
        for _ in 0..<count {
            entries.append(VirtioGPU.MemoryEntry(address: try u64(), length: try u32()))
            _ = try u32()
        }
        return entries
    }

    mutating func rest() -> [UInt8] {
        defer { offset = source.count }
        return Array(source[offset...])
    }

    mutating func header() throws(VirtioGPU.DecodeError) -> VirtioGPU.ControlHeader {
        let type = try u32()
        let flags = try u32()
        let fenceId = try u64()
        let contextId = try u32()
        let ring = try bytes(4)
        return VirtioGPU.ControlHeader(type: type, flags: flags, fenceId: fenceId, contextId: contextId, ringIndex: ring[0])
    }
}
