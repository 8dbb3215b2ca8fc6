@testable import SoftGPU
import Testing

/// Waves zero only the registers a program may read before writing them in every lane; every
/// register still reads 0 until the program writes it.
@Suite struct RegisterInitializationTests {
    private func toZero(_ source: String) throws -> [Int] {
        let mask = try Assembler.assemble(source).registersToZero
        return (0..<ISALimits.registerCount).filter { mask & (1 << UInt32($0)) != 0 }
    }

    @Test func theVectorAddZeroesNothing() throws {
        #expect(try toZero(Kernels.vectorAddF32) == [])
    }

    @Test func aReadBeforeTheFirstWriteNeedsZeroing() throws {
        #expect(try toZero("mov r1, r2\nmovi r2, 5\nend") == [2])
        // The operand registers of fma (d too), st (d and b), atomadd (d and b), if and break.
        #expect(try toZero("fma r3, r4, r5\nend") == [3, 4, 5])
        #expect(try toZero("st r6, a0, r7, 0\nend") == [6, 7])
        #expect(try toZero("atomadd r8, a0, r9, 0\nend") == [8, 9])
        #expect(try toZero("ld r10, a0, r11, 0\nend") == [11])
        #expect(try toZero("if r12\nendif\nloop\nbreak r13\nendloop\nend") == [12, 13])
    }

    @Test func onlyWritesOutsideEveryConstructCount() throws {
        // Written inside an if: the other lanes still read the start value.
        #expect(try toZero("movi r0, 1\nif r0\nmovi r1, 2\nendif\nmov r2, r1\nend") == [1])
        // Written inside a loop, read after it.
        #expect(try toZero("movi r0, 1\nloop\nmovi r1, 2\nbreak r0\nendloop\nmov r2, r1\nend") == [1])
        // Read in a loop body before a later write outside it.
        #expect(try toZero("movi r0, 1\nloop\nmov r2, r3\nbreak r0\nendloop\nmovi r3, 4\nend") == [3])
        // Written and read in one run of an if's part: the read's lanes are the writer's.
        #expect(try toZero("movi r0, 1\nif r0\nmovi r1, 2\nmov r2, r1\nendif\nend") == [])
        // Written in the then-part, read in the else-part or after a break.
        #expect(try toZero("movi r0, 1\nif r0\nmovi r1, 2\nelse\nmov r2, r1\nendif\nend") == [1])
        #expect(try toZero("movi r0, 1\nloop\nmovi r1, 2\nbreak r0\nmov r2, r1\nendloop\nend") == [1])
        // Written at depth 0, then read anywhere: nothing to zero.
        #expect(try toZero("movi r0, 1\nif r0\nmov r1, r0\nendif\nend") == [])
    }

    @Test func reusedWavesStillStartWithZeroRegisters() throws {
        // Odd lanes write r3 inside an if; even lanes must read 0 in every workgroup, although
        // each wave ends with r3 = 77 and the workers reuse their wave states.
        let harness = try Harness()
        _ = try harness.run("""
            gid r0
            andi r1, r0, 1
            if r1
              iaddi r3, r0, 1
            endif
            shli r31, r0, 2
            st r3, a0, r31, 0
            movi r3, 77
            end
            """, lanes: 32 * 64)
        for gid in 0..<(32 * 64) { #expect(harness.u32(gid) == (gid % 2 == 1 ? UInt32(gid + 1) : 0), "lane \(gid)") }
    }
}
