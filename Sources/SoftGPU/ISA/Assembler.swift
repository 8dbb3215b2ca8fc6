/// A line of assembly that could not be assembled.
public struct AssemblyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// 1-based source line.
    public let line: Int
    public let reason: String
    public var description: String { "line \(line): \(reason)" }
}

/// Turns SoftGPU assembly text into a validated program (docs/softgpu.md describes the syntax).
///
/// One instruction per line: a mnemonic, then comma-separated operands: registers `r0`...`r31`,
/// dispatch arguments `a0`...`a15`, and immediates (decimal, `0x` hex, or a float such as
/// `1.5`, encoded as its IEEE-754 bits). `;` or `#` starts a comment.
public enum Assembler {
    private static let byMnemonic: [String: Opcode] = Dictionary(uniqueKeysWithValues: Opcode.allCases.map { ($0.mnemonic, $0) })

    /// Assembles `source` and validates the result.
    public static func assemble(_ source: String) throws(AssemblyError) -> Program {
        var instructions: [Instruction] = []
        var lines: [Int] = []
        for (number, rawLine) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let code = rawLine.prefix { $0 != ";" && $0 != "#" }.trimmingWhitespace()
            guard !code.isEmpty else { continue }
            instructions.append(try parse(code, line: number + 1))
            lines.append(number + 1)
        }
        do {
            return try Program(instructions: instructions)
        } catch {
            let line = error.index >= 0 && error.index < lines.count ? lines[error.index] : (lines.last ?? 0)
            throw AssemblyError(line: line, reason: error.reason)
        }
    }

    /// Assembles `source` into the bytes a dispatch loads.
    public static func assembleBytes(_ source: String) throws(AssemblyError) -> [UInt8] {
        try assemble(source).instructions.flatMap(\.bytes)
    }

    private static func parse(_ code: String, line: Int) throws(AssemblyError) -> Instruction {
        func fail(_ reason: String) -> AssemblyError { AssemblyError(line: line, reason: reason) }
        let mnemonicEnd = code.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? code.endIndex
        let mnemonic = code[..<mnemonicEnd].lowercased()
        guard let opcode = byMnemonic[mnemonic] else { throw fail("unknown instruction '\(mnemonic)'") }
        let operandText = code[mnemonicEnd...].trimmingWhitespace()
        let operands = operandText.isEmpty ? [] : operandText.split(separator: ",").map { $0.trimmingWhitespace() }

        func expect(_ count: Int) throws(AssemblyError) {
            guard operands.count == count else { throw fail("\(mnemonic) takes \(count) operand(s), got \(operands.count)") }
        }
        func register(_ index: Int) throws(AssemblyError) -> UInt8 {
            try numbered(operands[index], prefix: "r", limit: ISALimits.registerCount, fail)
        }
        func immediate(_ index: Int) throws(AssemblyError) -> UInt32 {
            guard let value = parseImmediate(operands[index]) else { throw fail("bad immediate '\(operands[index])'") }
            return value
        }

        switch opcode.format {
        case .none:
            try expect(0)
            return Instruction(opcode)
        case .d:
            try expect(1)
            return Instruction(opcode, d: try register(0))
        case .dImm:
            try expect(2)
            return Instruction(opcode, d: try register(0), immediate: try immediate(1))
        case .dA:
            try expect(2)
            return Instruction(opcode, d: try register(0), a: try register(1))
        case .a:
            try expect(1)
            return Instruction(opcode, a: try register(0))
        case .dAB:
            try expect(3)
            return Instruction(opcode, d: try register(0), a: try register(1), b: try register(2))
        case .dAImm:
            try expect(3)
            return Instruction(opcode, d: try register(0), a: try register(1), immediate: try immediate(2))
        case .memory:
            try expect(4)
            let argument = try numbered(operands[1], prefix: "a", limit: ISALimits.argumentCount, fail)
            return Instruction(opcode, d: try register(0), a: argument, b: try register(2), immediate: try immediate(3))
        }
    }

    private static func numbered(_ text: String, prefix: Character, limit: Int, _ fail: (String) -> AssemblyError) throws(AssemblyError) -> UInt8 {
        guard text.first == prefix, let value = Int(text.dropFirst()), value >= 0, value < limit else {
            throw fail("expected \(prefix)0...\(prefix)\(limit - 1), got '\(text)'")
        }
        return UInt8(value)
    }

    private static func parseImmediate(_ text: String) -> UInt32? {
        let lower = text.lowercased()
        if lower.hasPrefix("0x") { return UInt32(lower.dropFirst(2), radix: 16) }
        if lower.hasPrefix("-0x") { return UInt32(lower.dropFirst(3), radix: 16).map { 0 &- $0 } }
        if lower.contains(".") || lower.contains("e") || lower == "inf" || lower == "-inf" {
            return Float(lower).map(\.bitPattern)
        }
        if let value = Int64(lower), value >= Int64(Int32.min), value <= Int64(UInt32.max) {
            return UInt32(truncatingIfNeeded: value)
        }
        return nil
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
