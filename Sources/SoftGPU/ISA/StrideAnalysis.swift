/// Finds, before a dispatch runs, the `ld` and `st` instructions whose offset register is sure
/// to hold `offset[0] + 4 × lane` in every lane whenever the instruction runs with all 32 lanes
/// active: they can skip the per-wave check that the access is unit-stride.
///
/// It follows each register's value as uniform (the same in every lane) or lane-affine
/// (`value[0] + stride × lane`, modulo 2^32) through `gid`/`lid`/`lane`, constants, `mov`,
/// `iadd`/`isub`/`iaddi` and `shli`. A fact is only kept while it holds for full-mask readers:
/// - a write outside every `if` and `loop` covers all the wave's lanes, so its fact lasts until
///   the register is written again;
/// - a write inside a construct covers the active lanes only, so its fact lasts until the next
///   control-flow instruction (until then a reader runs with the writer's mask);
/// - at a `loop`, every register written anywhere in its body loses its fact, since a later
///   iteration runs the body after those writes.
enum StrideAnalysis {
    private enum Fact: Equatable {
        case unknown
        /// `value[lane] = value[0] + stride × lane` (stride 0: uniform).
        case affine(stride: UInt32)
    }

    /// For each instruction: whether it is an `ld` or `st` whose offset register is unit-stride
    /// (stride 4) whenever it runs with every lane active.
    static func unitStrideAccesses(_ program: Program) -> [Bool] {
        let instructions = program.instructions
        var facts = [Fact](repeating: .unknown, count: ISALimits.registerCount)
        var writtenInside = [Bool](repeating: false, count: ISALimits.registerCount)
        var result = [Bool](repeating: false, count: instructions.count)
        var depth = 0
        for (index, instruction) in instructions.enumerated() {
            let a = facts[Int(instruction.a) % ISALimits.registerCount]
            let b = facts[Int(instruction.b) % ISALimits.registerCount]
            func write(_ fact: Fact) {
                let d = Int(instruction.d)
                facts[d] = fact
                writtenInside[d] = depth > 0
            }
            switch instruction.opcode {
            case .if, .else, .endif, .loop, .break, .endloop, .barrier:
                for register in 0..<ISALimits.registerCount where writtenInside[register] {
                    facts[register] = .unknown
                    writtenInside[register] = false
                }
                if instruction.opcode == .loop {
                    for register in registersWritten(in: instructions, loopAt: index, closingAt: Int(program.partner[index])) {
                        facts[register] = .unknown
                    }
                }
                if instruction.opcode == .if || instruction.opcode == .loop { depth += 1 }
                if instruction.opcode == .endif || instruction.opcode == .endloop { depth -= 1 }
            case .gid, .lid, .lane: write(.affine(stride: 1))
            case .movi, .arg, .argHigh, .wgid, .wgsize: write(.affine(stride: 0))
            case .mov: write(a)
            case .iaddi: write(a)
            case .shli:
                if case .affine(let stride) = a { write(.affine(stride: stride << (instruction.immediate & 31))) } else { write(.unknown) }
            case .iadd, .isub:
                if case .affine(let x) = a, case .affine(let y) = b {
                    write(.affine(stride: instruction.opcode == .iadd ? x &+ y : x &- y))
                } else {
                    write(.unknown)
                }
            case .ld, .st:
                result[index] = b == .affine(stride: 4)
                if instruction.opcode == .ld { write(.unknown) }
            case .end, .atomadd:
                if instruction.opcode == .atomadd { write(.unknown) }
            default:
                // Every other instruction writes d with a value the analysis does not follow.
                write(.unknown)
            }
        }
        return result
    }

    /// The registers any instruction of the loop body between `start` and `end` writes.
    private static func registersWritten(in instructions: [Instruction], loopAt start: Int, closingAt end: Int) -> [Int] {
        instructions[(start + 1)..<end].compactMap { instruction in
            switch instruction.opcode.format {
            case .none, .a: nil
            case .memory: instruction.opcode == .st ? nil : Int(instruction.d)
            default: Int(instruction.d)
            }
        }
    }
}
