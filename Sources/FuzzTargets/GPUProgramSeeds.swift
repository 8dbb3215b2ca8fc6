import SoftGPU

extension FuzzSeeds {
    /// GPU-program seeds: the runaway programs found so far (barrier loops, endless dispatches
    /// of short waves, spinners), the same with the client leaving or destroying its context
    /// early, programs that finish, fault or are malformed, and command streams after them.
    public static func gpuProgram() throws -> [[UInt8]] {
        let barrierLoop = try Assembler.assembleBytes(Kernels.barrierLoop)
        let end = try Assembler.assembleBytes("end")
        let spinner = try Assembler.assembleBytes(Kernels.spinUntilFlag)   // a0 is the data, all zero: never released
        let fewInstructions = try Assembler.assembleBytes("lid r0\nshli r1, r0, 2\nend")
        let store = try Assembler.assembleBytes("""
            gid r0
            shli r1, r0, 2
            andi r1, r1, 0xFFFC
            st r0, a0, r1, 0
            barrier
            ld r2, a0, r1, 0
            end
            """)
        let outOfBounds = try Assembler.assembleBytes("movi r0, 0x10000\nst r0, a0, r0, 0\nend")
        var fill = CommandStream()
        fill.fill(address: GPUProgramCase.dataAddress, size: UInt64(GPUProgramCase.dataSize), pattern: 0xA5A5_A5A5)
        var endlessDispatch = CommandStream()
        endlessDispatch.dispatch(programAddress: GPUProgramCase.programAddress, programSize: UInt32(end.count), workgroupCount: .max,
                                 workgroupSize: 1, arguments: [])
        let cases: [GPUProgramCase] = [
            GPUProgramCase(workgroupCount: 1, workgroupSize: 1, program: barrierLoop),
            GPUProgramCase(workgroupCount: 1, workgroupSize: 1024, program: barrierLoop),
            GPUProgramCase(workgroupCount: 4, workgroupSize: 96, flags: .twoContexts, program: barrierLoop),
            GPUProgramCase(workgroupCount: 1, workgroupSize: 64, flags: .closeEarly, program: barrierLoop),
            GPUProgramCase(workgroupCount: 1, workgroupSize: 64, flags: .destroyEarly, program: barrierLoop),
            GPUProgramCase(workgroupCount: .max, workgroupSize: 1, program: end),
            GPUProgramCase(workgroupCount: .max, workgroupSize: 1024, program: fewInstructions),
            GPUProgramCase(workgroupCount: .max, workgroupSize: 1, flags: .closeEarly, program: end),
            GPUProgramCase(workgroupCount: .max, workgroupSize: 1, flags: [.twoContexts, .destroyEarly], program: end),
            GPUProgramCase(workgroupCount: 1, workgroupSize: 1, program: spinner),
            GPUProgramCase(workgroupCount: 1, workgroupSize: 1, program: try Assembler.assembleBytes(Kernels.infiniteLoop)),
            GPUProgramCase(workgroupCount: 64, workgroupSize: 256, program: store, commands: fill.bytes),
            GPUProgramCase(workgroupCount: 1, workgroupSize: 1, program: end, commands: endlessDispatch.bytes),
            GPUProgramCase(workgroupCount: 1, workgroupSize: 32, program: outOfBounds),
            GPUProgramCase(workgroupCount: 1, workgroupSize: 32, program: Array(barrierLoop.dropLast(8))),   // no end: illegal
            GPUProgramCase(workgroupCount: 1, workgroupSize: 0, program: end),                             // illegal size
        ]
        return cases.map(\.bytes)
    }
}
