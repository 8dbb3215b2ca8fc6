/// SoftGPU instruction opcodes. docs/softgpu.md is the reference for each.
public enum Opcode: UInt8, Sendable, CaseIterable {
    case end = 0x00
    case movi = 0x01, mov = 0x02, arg = 0x03, argHigh = 0x04
    case gid = 0x05, lid = 0x06, wgid = 0x07, wgsize = 0x08, lane = 0x09
    case iadd = 0x10, isub = 0x11, imul = 0x12, and = 0x13, or = 0x14, xor = 0x15
    case shl = 0x16, shr = 0x17, sar = 0x18, iaddi = 0x19, shli = 0x1A, shri = 0x1B, andi = 0x1C
    case umin = 0x1D, umax = 0x1E, udiv = 0x1F
    case fadd = 0x20, fsub = 0x21, fmul = 0x22, fdiv = 0x23, fmin = 0x24, fmax = 0x25, fma = 0x26
    case itof = 0x28, ftoi = 0x29, utof = 0x2A
    case ilt = 0x30, ult = 0x31, ieq = 0x32, ine = 0x33, flt = 0x34, feq = 0x35
    case ld = 0x40, st = 0x41, atomadd = 0x42
    case `if` = 0x50, `else` = 0x51, endif = 0x52, loop = 0x53, `break` = 0x54, endloop = 0x55
    case wsum = 0x60, wfsum = 0x61
    case barrier = 0x70

    /// The operands an instruction takes, in assembly order.
    enum Format {
        case none            // end, else, endif, loop, endloop, barrier
        case d               // gid r0
        case dImm            // movi r0, 5
        case dA              // mov r0, r1
        case a               // if r0 / break r0
        case dAB             // iadd r0, r1, r2
        case dAImm           // iaddi r0, r1, 4
        case memory          // ld r0, a1, r2, 16
    }

    var format: Format {
        switch self {
        case .end, .else, .endif, .loop, .endloop, .barrier: .none
        case .gid, .lid, .wgid, .wgsize, .lane: .d
        case .movi, .arg, .argHigh: .dImm
        case .mov, .itof, .ftoi, .utof, .wsum, .wfsum: .dA
        case .if, .break: .a
        case .iaddi, .shli, .shri, .andi: .dAImm
        case .ld, .st, .atomadd: .memory
        default: .dAB
        }
    }

    /// The assembly mnemonic.
    public var mnemonic: String {
        switch self {
        case .argHigh: "arghi"
        default: String(describing: self)
        }
    }
}

/// One 8-byte instruction: opcode, three register fields and a 32-bit immediate.
public struct Instruction: Equatable, Sendable {
    public var opcode: Opcode
    public var d: UInt8
    public var a: UInt8
    public var b: UInt8
    public var immediate: UInt32

    public init(_ opcode: Opcode, d: UInt8 = 0, a: UInt8 = 0, b: UInt8 = 0, immediate: UInt32 = 0) {
        self.opcode = opcode
        self.d = d
        self.a = a
        self.b = b
        self.immediate = immediate
    }

    /// Encoded size in bytes.
    public static let size = 8

    /// Little-endian encoding.
    public var bytes: [UInt8] {
        [opcode.rawValue, d, a, b] + withUnsafeBytes(of: immediate.littleEndian) { Array($0) }
    }
}

/// Limits of the execution model.
public enum ISALimits {
    /// Lanes per wavefront.
    public static let waveWidth = 32
    /// Vector registers per lane (r0 ... r31).
    public static let registerCount = 32
    /// Dispatch arguments (a0 ... a15).
    public static let argumentCount = 16
    /// Largest workgroup, in lanes.
    public static let maxWorkgroupSize = 1024
    /// Largest program, in instructions.
    public static let maxProgramInstructions = 65_536
    /// Deepest nesting of if and loop.
    public static let maxNesting = 32
}
