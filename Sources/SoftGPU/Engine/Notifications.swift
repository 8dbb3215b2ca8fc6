/// The messages SoftGPU sends on a connection's notification channel: 32 bytes, little endian,
/// `{u32 kind, u32 detail, u64 sequence, u64 value0, u64 value1}`.
public enum SoftGPUNotification: Equatable, Sendable {
    /// Work number `sequence` (counted per connection from 1, in submission order; each
    /// request of inline commands counts as one) finished with `status`, after
    /// `gpuNanoseconds` on the engine.
    case completed(sequence: UInt64, status: Int32, gpuNanoseconds: UInt64)
    /// Work number `sequence` faulted at `address`; the connection is being closed.
    case fault(sequence: UInt64, address: UInt64, access: UInt32, reason: UInt32)
    /// Work number `sequence` was stopped by the watchdog; the connection is being closed.
    case hang(sequence: UInt64, limitNanoseconds: UInt64)
    /// Work number `sequence` held a malformed command or program; the connection is being closed.
    case illegalCommand(sequence: UInt64)

    /// Encoded size.
    public static let size = 32

    private var fields: (kind: UInt32, detail: UInt32, sequence: UInt64, value0: UInt64, value1: UInt64) {
        switch self {
        case let .completed(sequence, status, time): (1, UInt32(bitPattern: status), sequence, time, 0)
        case let .fault(sequence, address, access, reason): (2, access, sequence, address, UInt64(reason))
        case let .hang(sequence, limit): (3, 0, sequence, limit, 0)
        case let .illegalCommand(sequence): (4, 0, sequence, 0, 0)
        }
    }

    /// The wire bytes.
    public var bytes: [UInt8] {
        let f = fields
        return [UInt8](unsafeUninitializedCapacity: Self.size) { buffer, count in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            raw.storeBytes(of: f.kind.littleEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: f.detail.littleEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: f.sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: f.value0.littleEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: f.value1.littleEndian, toByteOffset: 24, as: UInt64.self)
            count = Self.size
        }
    }

    /// Decodes a notification; nil if the bytes are not one.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        func read<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        }
        let detail = read(4, UInt32.self), sequence = read(8, UInt64.self)
        let value0 = read(16, UInt64.self), value1 = read(24, UInt64.self)
        switch read(0, UInt32.self) {
        case 1: self = .completed(sequence: sequence, status: Int32(bitPattern: detail), gpuNanoseconds: value0)
        case 2: self = .fault(sequence: sequence, address: value0, access: detail, reason: UInt32(truncatingIfNeeded: value1))
        case 3: self = .hang(sequence: sequence, limitNanoseconds: value0)
        case 4: self = .illegalCommand(sequence: sequence)
        default: return nil
        }
    }
}
