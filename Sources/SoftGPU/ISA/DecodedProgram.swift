/// A program decoded once per dispatch into the form the interpreter runs: one `Op` per
/// instruction, with register numbers resolved to register-row offsets, branch targets inlined,
/// `arg`/`arghi` resolved to the dispatch's argument values and memory instructions to their base
/// address (argument plus sign-extended immediate), and unit-stride accesses marked. Kept in one allocation reached through `let`
/// pointers, so a wave starts without copying or retaining arrays.
final class DecodedProgram: @unchecked Sendable {
    /// One decoded instruction.
    struct Op {
        /// What to do; `arg` and `arghi` arrive as `movi` of the argument's half.
        var opcode: Opcode
        /// Offsets of the rows of registers d, a and b in a wave's register file (register × 32).
        var d: Int32
        var a: Int32
        var b: Int32
        /// The immediate (for `arg`/`arghi`: the argument's 32 bits).
        var immediate: UInt32
        /// `Program.partner` of the instruction.
        var partner: Int32
        /// `ld`, `st`, `atomadd`: argument `a` plus the sign-extended immediate.
        var base: UInt64
        /// `ld`, `st`: the offset register is known to be unit-stride whenever every lane is
        /// active (`StrideAnalysis`), so the wave need not check it.
        var unitStride: Bool
    }

    /// The ops (immutable after init; the storage is never written again, so sharing it between
    /// threads is safe).
    let ops: UnsafeMutableBufferPointer<Op>

    /// Decodes `program` for a dispatch with `arguments` (at least `ISALimits.argumentCount`).
    init(_ program: Program, arguments: [UInt64]) {
        ops = .allocate(capacity: program.instructions.count)
        let width = Int32(ISALimits.waveWidth)
        let unitStride = StrideAnalysis.unitStrideAccesses(program)
        for (index, instruction) in program.instructions.enumerated() {
            var op = Op(opcode: instruction.opcode, d: Int32(instruction.d) * width, a: Int32(instruction.a) * width,
                        b: Int32(instruction.b) * width, immediate: instruction.immediate, partner: program.partner[index], base: 0,
                        unitStride: unitStride[index])
            switch instruction.opcode {
            case .arg:
                op.opcode = .movi
                op.immediate = UInt32(truncatingIfNeeded: arguments[Int(instruction.immediate)])
            case .argHigh:
                op.opcode = .movi
                op.immediate = UInt32(truncatingIfNeeded: arguments[Int(instruction.immediate)] >> 32)
            case .ld, .st, .atomadd:
                op.a = 0
                op.base = arguments[Int(instruction.a)] &+ UInt64(bitPattern: Int64(Int32(bitPattern: instruction.immediate)))
            default:
                break
            }
            ops.initializeElement(at: index, to: op)
        }
    }

    deinit { ops.deallocate() }
}
