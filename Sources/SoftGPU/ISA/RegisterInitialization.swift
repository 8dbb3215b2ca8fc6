extension Instruction {
    /// The registers the instruction reads, as a bit mask (bit `i` for `ri`).
    var readRegisters: UInt32 {
        switch opcode.format {
        case .none, .d, .dImm: 0
        case .a, .dA, .dAImm: 1 << UInt32(a)
        case .dAB: 1 << UInt32(a) | 1 << UInt32(b) | (opcode == .fma ? 1 << UInt32(d) : 0)
        case .memory: 1 << UInt32(b) | (opcode == .ld ? 0 : 1 << UInt32(d))
        }
    }

    /// The registers the instruction writes, as a bit mask.
    var writtenRegisters: UInt32 {
        switch opcode.format {
        case .none, .a: 0
        case .d, .dImm, .dA, .dAB, .dAImm: 1 << UInt32(d)
        case .memory: opcode == .st ? 0 : 1 << UInt32(d)
        }
    }
}

/// Which registers a wave must zero when it starts: those the program may read before it has
/// written them in every lane the read covers. Every other register is written before any read
/// of it, so its old contents (another workgroup's, or none) are never seen.
///
/// A read is covered by an earlier write in two cases:
/// - the write is outside every `if` and `loop` (depth 0): it covers all the wave's lanes and runs
///   before every later instruction in program order, as depth-0 code runs once, in order
///   (skipping and looping happen inside constructs only);
/// - the write comes earlier in the same run of instructions between two control-flow
///   instructions: the mask cannot change in between, and the run is only entered at its start
///   (a skip jumps to a control-flow instruction, a loop goes back to the one after `loop`).
/// Any other read (say, in a loop body, of a register written later in the program or only in
/// another part of an `if`) makes the register one to zero.
enum RegisterInitialization {
    /// The bit mask of registers to zero for `instructions` (valid, properly nested).
    static func registersToZero(_ instructions: [Instruction]) -> UInt32 {
        var everywhere: UInt32 = 0   // written at depth 0
        var inThisRun: UInt32 = 0    // written since the last control-flow instruction
        var toZero: UInt32 = 0
        var depth = 0
        for instruction in instructions {
            toZero |= instruction.readRegisters & ~(everywhere | inThisRun)
            switch instruction.opcode {
            case .if, .loop:
                depth += 1
                inThisRun = 0
            case .endif, .endloop:
                depth -= 1
                inThisRun = 0
            case .else, .break:
                inThisRun = 0
            default:
                if depth == 0 { everywhere |= instruction.writtenRegisters } else { inThisRun |= instruction.writtenRegisters }
            }
        }
        return toZero
    }
}
