/// SoftGPU command opcodes. A command is a little-endian header `{u32 opcode, u32 size}` (size
/// in bytes including the header, a multiple of 8) followed by its fields.
/// docs/softgpu.md is the reference.
public enum CommandOpcode: UInt32, Sendable {
    /// Stop reading this command buffer. `{}` (8 bytes).
    case end = 0
    /// Fill `{u64 gpu_address, u64 size, u32 pattern, u32 reserved}` (32 bytes); address and
    /// size 4-byte aligned.
    case fill = 1
    /// Copy `{u64 source, u64 destination, u64 size}` (32 bytes).
    case copy = 2
    /// Write the GPU clock in nanoseconds as a u64 `{u64 gpu_address}` (16 bytes); 8-byte aligned.
    case timestamp = 3
    /// Run a program `{u64 program_address, u32 program_size, u32 workgroup_count,
    /// u32 workgroup_size, u32 argument_count, u64 arguments[argument_count]}` (32 + 8n bytes).
    case dispatch = 4
}

/// Builds a SoftGPU command stream.
public struct CommandStream: Sendable {
    /// The encoded bytes.
    public private(set) var bytes: [UInt8] = []

    public init() {}

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private mutating func header(_ opcode: CommandOpcode, size: Int) {
        append(opcode.rawValue)
        append(UInt32(size))
    }

    /// Appends a fill of `size` bytes at `address` with the 32-bit `pattern`.
    @discardableResult
    public mutating func fill(address: UInt64, size: UInt64, pattern: UInt32) -> Self {
        header(.fill, size: 32)
        append(address); append(size); append(pattern); append(UInt32(0))
        return self
    }

    /// Appends a copy of `size` bytes.
    @discardableResult
    public mutating func copy(from source: UInt64, to destination: UInt64, size: UInt64) -> Self {
        header(.copy, size: 32)
        append(source); append(destination); append(size)
        return self
    }

    /// Appends a timestamp write.
    @discardableResult
    public mutating func timestamp(address: UInt64) -> Self {
        header(.timestamp, size: 16)
        append(address)
        return self
    }

    /// Appends a compute dispatch of `workgroupCount` workgroups of `workgroupSize` lanes.
    @discardableResult
    public mutating func dispatch(programAddress: UInt64, programSize: UInt32, workgroupCount: UInt32,
                                  workgroupSize: UInt32, arguments: [UInt64]) -> Self {
        header(.dispatch, size: 32 + 8 * arguments.count)
        append(programAddress); append(programSize); append(workgroupCount); append(workgroupSize)
        append(UInt32(arguments.count))
        arguments.forEach { append($0) }
        return self
    }

    /// Appends an end marker.
    @discardableResult
    public mutating func end() -> Self {
        header(.end, size: 8)
        return self
    }
}

/// A decoded command.
enum Command: Equatable {
    case end
    case fill(address: UInt64, size: UInt64, pattern: UInt32)
    case copy(source: UInt64, destination: UInt64, size: UInt64)
    case timestamp(address: UInt64)
    case dispatch(programAddress: UInt64, programSize: UInt32, workgroupCount: UInt32, workgroupSize: UInt32, arguments: [UInt64])
}

/// Reads commands out of bytes the client controls; anything malformed is an `.illegal` fault.
struct CommandReader {
    private let bytes: UnsafeRawBufferPointer
    /// Where the next command starts.
    private(set) var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    private func field<T: FixedWidthInteger>(_ at: Int, as: T.Type) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self))
    }

    /// The next command, or nil at the end of the bytes.
    mutating func next() throws(ExecutionFault) -> Command? {
        guard offset < bytes.count else { return nil }
        guard bytes.count - offset >= 8 else { throw .illegal("truncated command header at byte \(offset)") }
        let rawOpcode: UInt32 = field(offset, as: UInt32.self)
        let size = Int(field(offset + 4, as: UInt32.self))
        guard size >= 8, size % 8 == 0 else { throw .illegal("command size \(size) at byte \(offset)") }
        guard size <= bytes.count - offset else { throw .illegal("command at byte \(offset) runs past its buffer") }
        guard let opcode = CommandOpcode(rawValue: rawOpcode) else { throw .illegal("unknown command 0x\(String(rawOpcode, radix: 16))") }
        let body = offset + 8
        defer { offset += size }
        func expect(_ wanted: Int) throws(ExecutionFault) {
            guard size == wanted else { throw .illegal("\(opcode) command of \(size) bytes, expected \(wanted)") }
        }
        switch opcode {
        case .end:
            try expect(8)
            return .end
        case .fill:
            try expect(32)
            return .fill(address: field(body, as: UInt64.self), size: field(body + 8, as: UInt64.self), pattern: field(body + 16, as: UInt32.self))
        case .copy:
            try expect(32)
            return .copy(source: field(body, as: UInt64.self), destination: field(body + 8, as: UInt64.self), size: field(body + 16, as: UInt64.self))
        case .timestamp:
            try expect(16)
            return .timestamp(address: field(body, as: UInt64.self))
        case .dispatch:
            guard size >= 32 else { throw .illegal("dispatch command of \(size) bytes") }
            let count = Int(field(body + 20, as: UInt32.self))
            guard count <= ISALimits.argumentCount else { throw .illegal("dispatch with \(count) arguments") }
            try expect(32 + 8 * count)
            let arguments = (0..<count).map { field(body + 24 + 8 * $0, as: UInt64.self) }
            return .dispatch(programAddress: field(body, as: UInt64.self), programSize: field(body + 8, as: UInt32.self),
                             workgroupCount: field(body + 12, as: UInt32.self), workgroupSize: field(body + 16, as: UInt32.self),
                             arguments: arguments)
        }
    }
}
