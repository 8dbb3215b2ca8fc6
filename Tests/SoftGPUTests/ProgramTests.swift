@testable import SoftGPU
import Testing

@Suite struct AssemblerTests {
    @Test func assemblesEveryFormat() throws {
        let program = try Assembler.assemble("""
            ; comment line
            movi r1, 0x10      # trailing comment
            movi r2, -1
            movi r3, 1.5
            mov r4, r1
            iadd r5, r1, r2
            iaddi r6, r1, 4
            ld r7, a2, r6, -8
            if r7
            else
            endif
            loop
              break r1
            endloop
            end
            """)
        let i = program.instructions
        #expect(i[0] == Instruction(.movi, d: 1, immediate: 16))
        #expect(i[1] == Instruction(.movi, d: 2, immediate: .max))
        #expect(i[2] == Instruction(.movi, d: 3, immediate: Float(1.5).bitPattern))
        #expect(i[6] == Instruction(.ld, d: 7, a: 2, b: 6, immediate: UInt32(bitPattern: -8)))
        #expect(i.count == 14)
    }

    @Test func bytesRoundTripThroughTheDecoder() throws {
        let bytes = try Assembler.assembleBytes(Kernels.vectorAddF32)
        let decoded = try bytes.withUnsafeBytes { try Program(bytes: $0) }
        #expect(decoded.instructions == (try Assembler.assemble(Kernels.vectorAddF32)).instructions)
    }

    @Test func reportsTheLineOfEachMistake() {
        let cases: [(String, Int)] = [
            ("movi r0, 1\nfrobnicate r1\nend", 2),
            ("movi r32, 1\nend", 1),
            ("iadd r0, r1\nend", 1),
            ("ld r0, a16, r1, 0\nend", 1),
            ("movi r0, banana\nend", 1),
            ("movi r0, 1\nif r0\nend", 2),
            ("endif\nend", 1),
            ("break r0\nend", 1),
            ("movi r0, 1", 1),
            ("arg r0, 16\nend", 1),
        ]
        for (source, line) in cases {
            #expect(throws: AssemblyError.self) { try Assembler.assemble(source) }
            do { _ = try Assembler.assemble(source) } catch { #expect(error.line == line, "\(source): \(error)") }
        }
    }
}

@Suite struct ProgramValidationTests {
    func decode(_ bytes: [UInt8]) throws(ProgramError) -> Program {
        let result: Result<Program, ProgramError> = bytes.withUnsafeBytes { raw in
            do throws(ProgramError) { return .success(try Program(bytes: raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    @Test func rejectsMalformedBinaries() {
        #expect(throws: ProgramError.self) { try decode([]) }
        #expect(throws: ProgramError.self) { try decode([0, 0, 0]) }
        #expect(throws: ProgramError.self) { try decode([0xEE, 0, 0, 0, 0, 0, 0, 0]) }           // unknown opcode
        #expect(throws: ProgramError.self) { try decode(Instruction(.movi, d: 40).bytes + Instruction(.end).bytes) }
        #expect(throws: ProgramError.self) { try decode(Instruction(.if).bytes + Instruction(.end).bytes) }
        #expect(throws: ProgramError.self) { try decode(Instruction(.movi).bytes) }               // no end
        let deep = (0..<33).flatMap { _ in Instruction(.loop).bytes }
            + (0..<33).flatMap { _ in Instruction(.endloop).bytes } + Instruction(.end).bytes
        #expect(throws: ProgramError.self) { try decode(deep) }
    }
}
