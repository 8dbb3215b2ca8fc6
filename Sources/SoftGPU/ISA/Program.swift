/// Why a program was rejected before it ran.
public struct ProgramError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Instruction index, or -1 for the whole program.
    public let index: Int
    public let reason: String
    public var description: String { index < 0 ? reason : "instruction \(index): \(reason)" }
}

/// A decoded, validated program: every opcode and register is known, control flow is
/// properly nested, and the program ends with `end`. Branch targets are precomputed.
public struct Program: Sendable {
    public let instructions: [Instruction]
    /// For `if`: index of its `else` or `endif`; for `else`: its `endif`; for `loop`: its
    /// `endloop`; for `endloop`: its `loop`; for `break`: its loop's `endloop`.
    let partner: [Int32]
    /// The registers (bit `i` for `ri`) a wave zeroes when it starts: those the program may read
    /// before writing them in every lane (`RegisterInitialization`); the others are never read
    /// before they are written.
    let registersToZero: UInt32

    /// Decodes and validates little-endian instruction bytes.
    public init(bytes: UnsafeRawBufferPointer) throws(ProgramError) {
        guard bytes.count % Instruction.size == 0, bytes.count > 0 else {
            throw ProgramError(index: -1, reason: "program size \(bytes.count) is not a positive multiple of 8")
        }
        let count = bytes.count / Instruction.size
        guard count <= ISALimits.maxProgramInstructions else {
            throw ProgramError(index: -1, reason: "program of \(count) instructions exceeds \(ISALimits.maxProgramInstructions)")
        }
        var decoded: [Instruction] = []
        decoded.reserveCapacity(count)
        for index in 0..<count {
            let base = index * Instruction.size
            guard let opcode = Opcode(rawValue: bytes[base]) else {
                throw ProgramError(index: index, reason: "unknown opcode 0x\(String(bytes[base], radix: 16))")
            }
            let immediate = UInt32(bytes[base + 4]) | UInt32(bytes[base + 5]) << 8 | UInt32(bytes[base + 6]) << 16 | UInt32(bytes[base + 7]) << 24
            decoded.append(Instruction(opcode, d: bytes[base + 1], a: bytes[base + 2], b: bytes[base + 3], immediate: immediate))
        }
        try self.init(instructions: decoded)
    }

    /// Validates already-built instructions.
    public init(instructions: [Instruction]) throws(ProgramError) {
        self.instructions = instructions
        self.partner = try Self.validate(instructions)
        registersToZero = RegisterInitialization.registersToZero(instructions)
    }

    private static func validate(_ program: [Instruction]) throws(ProgramError) -> [Int32] {
        var partner = [Int32](repeating: -1, count: program.count)
        var open: [Int] = []
        let registers = UInt8(ISALimits.registerCount)
        for (index, instruction) in program.enumerated() {
            func fail(_ reason: String) -> ProgramError { ProgramError(index: index, reason: reason) }
            switch instruction.opcode.format {
            case .none: break
            case .d, .dImm: guard instruction.d < registers else { throw fail("register r\(instruction.d) out of range") }
            case .a: guard instruction.a < registers else { throw fail("register r\(instruction.a) out of range") }
            case .dA, .dAImm:
                guard instruction.d < registers, instruction.a < registers else { throw fail("register out of range") }
            case .dAB:
                guard instruction.d < registers, instruction.a < registers, instruction.b < registers else { throw fail("register out of range") }
            case .memory:
                guard instruction.d < registers, instruction.b < registers else { throw fail("register out of range") }
                guard Int(instruction.a) < ISALimits.argumentCount else { throw fail("argument a\(instruction.a) out of range") }
            }
            if instruction.opcode == .arg || instruction.opcode == .argHigh {
                guard instruction.immediate < UInt32(ISALimits.argumentCount) else { throw fail("argument a\(instruction.immediate) out of range") }
            }
            switch instruction.opcode {
            case .if, .loop:
                guard open.count < ISALimits.maxNesting else { throw fail("nesting deeper than \(ISALimits.maxNesting)") }
                open.append(index)
            case .else:
                guard let top = open.last, program[top].opcode == .if, partner[top] == -1 else { throw fail("else without if") }
                partner[top] = Int32(index)
                open[open.count - 1] = index
            case .endif:
                guard let top = open.popLast(), program[top].opcode == .if || program[top].opcode == .else else { throw fail("endif without if") }
                partner[top] = Int32(index)
            case .endloop:
                guard let top = open.popLast(), program[top].opcode == .loop else { throw fail("endloop without loop") }
                partner[top] = Int32(index)
                partner[index] = Int32(top)
            case .break:
                guard let loop = open.last(where: { program[$0].opcode == .loop }) else { throw fail("break outside a loop") }
                partner[index] = Int32(loop)  // resolved to the endloop below
            default: break
            }
        }
        if let unclosed = open.last { throw ProgramError(index: unclosed, reason: "\(program[unclosed].opcode.mnemonic) is never closed") }
        guard program.last?.opcode == .end else { throw ProgramError(index: program.count - 1, reason: "program must end with end") }
        for index in program.indices where program[index].opcode == .break {
            partner[index] = partner[Int(partner[index])]
        }
        return partner
    }
}
