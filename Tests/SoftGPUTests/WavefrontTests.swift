import MagmaPlatform
import MagmaProtocol
import MagmaSystem
@testable import SoftGPU
import Testing

/// Runs programs directly on an address space, without the system layer, and checks the
/// SIMT semantics lane by lane.
struct Harness {
    let space = AddressSpace()
    let output: SharedMemory
    static let outputAddress: UInt64 = 0x10_0000

    init() throws {
        output = try SharedMemory.create(size: 64 * 1024)
        space.map(GpuMapping(gpuAddress: Self.outputAddress, buffer: SoftGPUBuffer(memory: output), bufferId: 1, offset: 0,
                             length: UInt64(output.size), flags: [.read, .write]))
    }

    /// Runs `source` over `lanes` lanes in workgroups of `workgroupSize`; a0 is the output.
    func run(_ source: String, lanes: UInt32, workgroupSize: UInt32 = 32, arguments: [UInt64] = [],
             watchdog: UInt64 = 5_000_000_000) throws -> UInt64 {
        let program = try Assembler.assemble(source)
        var args = [Self.outputAddress] + arguments
        args += repeatElement(0, count: ISALimits.argumentCount - args.count)
        let request = DispatchExecution.Request(program: program, workgroupCount: (lanes + workgroupSize - 1) / workgroupSize,
                                                workgroupSize: workgroupSize, arguments: args)
        let execution = DispatchExecution(request)
        let counters = try execution.run(in: space, threads: 2, watchdog: Watchdog(limitNanoseconds: watchdog), shouldYield: { false })
        return counters.instructions
    }

    func u32(_ index: Int) -> UInt32 { output.base.load(fromByteOffset: index * 4, as: UInt32.self) }
    func f32(_ index: Int) -> Float { Float(bitPattern: u32(index)) }
}

/// Stores r9 of each lane at out[gid].
let storeResult = """
    gid r30
    shli r31, r30, 2
    st r9, a0, r31, 0
    end
    """

@Suite struct WavefrontTests {
    @Test func integerAndFloatArithmetic() throws {
        let harness = try Harness()
        _ = try harness.run("""
            gid r0
            movi r1, 3
            imul r2, r0, r1      ; 3 * gid
            itof r3, r2
            movi r4, 0.5
            fmul r5, r3, r4      ; 1.5 * gid
            movi r6, 1.0
            fma r6, r5, r4       ; 1 + 0.75 * gid
            ftoi r9, r6
            \(storeResult)
            """, lanes: 64)
        for gid in 0..<64 { #expect(harness.u32(gid) == UInt32(1 + Float(gid) * 0.75), "lane \(gid)") }
    }

    @Test func divergentIfElseRunsEachSideOnItsLanes() throws {
        let harness = try Harness()
        _ = try harness.run("""
            gid r0
            andi r1, r0, 1
            if r1
              movi r9, 111       ; odd lanes
            else
              movi r9, 222       ; even lanes
              movi r2, 0
              if r2
                movi r9, 999     ; never: no lane takes it
              endif
            endif
            \(storeResult)
            """, lanes: 40)
        for gid in 0..<40 { #expect(harness.u32(gid) == (gid % 2 == 1 ? 111 : 222), "lane \(gid)") }
    }

    @Test func loopsRunAPerLaneNumberOfIterations() throws {
        let harness = try Harness()
        // Each lane counts to its own gid: lanes leave the loop at different iterations.
        _ = try harness.run("""
            gid r0
            movi r9, 0
            loop
              ult r1, r9, r0
              movi r2, 1
              xor r3, r1, r2     ; r3 = (r9 >= gid)
              break r3
              iaddi r9, r9, 1
            endloop
            \(storeResult)
            """, lanes: 50)
        for gid in 0..<50 { #expect(harness.u32(gid) == UInt32(gid), "lane \(gid)") }
    }

    @Test func breakInsideAnIfLeavesOnlyThoseLanes() throws {
        let harness = try Harness()
        _ = try harness.run("""
            lane r0
            movi r9, 0
            loop
              iaddi r9, r9, 1
              movi r4, 5
              ult r5, r9, r4
              if r5
                ieq r1, r9, r0   ; a lane below 5 breaks when the count reaches its lane id
                break r1
              else
                break r5         ; no lane breaks here (r5 is 0 in the else)
                movi r7, 1
                break r7         ; the rest leave once the count reaches 5
              endif
            endloop
            \(storeResult)
            """, lanes: 32)
        for lane in 0..<32 { #expect(harness.u32(lane) == UInt32(lane >= 1 && lane < 5 ? lane : 5), "lane \(lane)") }
    }

    @Test func waveReductionsAndIds() throws {
        let harness = try Harness()
        _ = try harness.run("""
            lid r0
            wsum r1, r0          ; sum of local ids in this wave
            wgid r2
            wgsize r3
            imul r4, r2, r3
            iadd r9, r1, r4
            \(storeResult)
            """, lanes: 128, workgroupSize: 64)
        for gid in 0..<128 {
            let local = gid % 64, wave = local / 32
            let waveSum = (0..<32).map { wave * 32 + $0 }.reduce(0, +)
            #expect(harness.u32(gid) == UInt32(waveSum + (gid / 64) * 64), "lane \(gid)")
        }
    }

    @Test func partialWavesLeaveInactiveLanesAlone() throws {
        let harness = try Harness()
        _ = try harness.run("movi r9, 7\n\(storeResult)", lanes: 20, workgroupSize: 20)
        #expect((0..<20).allSatisfy { harness.u32($0) == 7 })
        #expect(harness.u32(20) == 0)
    }

    @Test func atomicsFromEveryWorkgroupAddUp() throws {
        let harness = try Harness()
        _ = try harness.run("""
            movi r0, 0
            movi r1, 1
            atomadd r1, a0, r0, 0
            end
            """, lanes: 10_000, workgroupSize: 100)
        #expect(harness.u32(0) == 10_000)
    }

    @Test func instructionCountsAreExact() throws {
        let harness = try Harness()
        // 3 instructions per wave, 4 waves.
        let executed = try harness.run("movi r0, 1\nmovi r1, 2\nend", lanes: 128)
        #expect(executed == 12)
    }

    @Test func faultsStopTheDispatch() throws {
        let harness = try Harness()
        #expect(throws: ExecutionFault.memory(GpuFault(address: 0x9000_0000, access: .read, reason: .notMapped))) {
            _ = try harness.run("movi r0, 0\nld r1, a1, r0, 0\nend", lanes: 64, arguments: [0x9000_0000])
        }
        #expect(throws: ExecutionFault.memory(GpuFault(address: Harness.outputAddress + 2, access: .write, reason: .misaligned))) {
            _ = try harness.run("movi r0, 2\nst r0, a0, r0, 0\nend", lanes: 1)
        }
    }

    @Test func aBarrierMakesEveryWavesWritesVisibleToTheWorkgroup() throws {
        // Each lane writes its local id, then (after the barrier) reads its neighbour's, which
        // another wave wrote: without the barrier, waves would run to their end one by one.
        let program = """
            lid r0
            wgsize r1
            shli r2, r0, 2
            st r0, a0, r2, 0        ; out[lid] = lid
            barrier
            iaddi r3, r0, 1
            udiv r4, r3, r1
            imul r4, r4, r1
            isub r3, r3, r4         ; (lid + 1) % size
            shli r5, r3, 2
            ld r6, a0, r5, 0
            shli r7, r1, 2
            iadd r7, r7, r2
            st r6, a0, r7, 0        ; out[size + lid] = out[(lid + 1) % size]
            end
            """
        let harness = try Harness()
        let executed = try harness.run(program, lanes: 256, workgroupSize: 256)
        for lid in 0..<256 { #expect(harness.u32(256 + lid) == UInt32((lid + 1) % 256), "lane \(lid)") }
        #expect(executed == 15 * 8)
    }

    @Test func aWaveThatEndsReleasesTheOthersFromTheBarrier() throws {
        // Waves 1 and up wait at a barrier that wave 0 never reaches.
        let program = """
            wgid r0
            lid r1
            movi r2, 32
            ult r3, r1, r2
            movi r9, 1
            if r3
              movi r9, 2
            else
              barrier
            endif
            \(storeResult)
            """
        let harness = try Harness()
        _ = try harness.run(program, lanes: 128, workgroupSize: 128)
        for lane in 0..<128 { #expect(harness.u32(lane) == (lane < 32 ? 2 : 1), "lane \(lane)") }
    }

    @Test func aDispatchStoppedAtAnInstructionBoundaryResumesExactly() throws {
        let source = """
            gid r0
            movi r1, 0
            movi r2, 0
            loop
              iaddi r1, r1, 1
              iadd r2, r2, r0
              movi r3, 3000
              ult r4, r1, r3
              movi r5, 1
              xor r4, r4, r5
              break r4
            endloop
            mov r9, r2
            \(storeResult)
            """
        let harness = try Harness()
        var args = [Harness.outputAddress]
        args += repeatElement(0, count: ISALimits.argumentCount - 1)
        let execution = DispatchExecution(.init(program: try Assembler.assemble(source), workgroupCount: 16, workgroupSize: 64, arguments: args))
        // Yield at every check: the dispatch stops every ~1024 instructions and resumes.
        var slices = 0
        var total = ExecutionCounters()
        while !execution.isFinished {
            slices += 1
            total += try execution.run(in: harness.space, threads: 2, watchdog: Watchdog(limitNanoseconds: 10_000_000_000), shouldYield: { true })
        }
        #expect(slices > 10)
        for gid in 0..<1024 { #expect(harness.u32(gid) == UInt32(gid) &* 3000, "lane \(gid)") }
        let uninterrupted = try Harness().run(source, lanes: 1024, workgroupSize: 64)
        #expect(total.instructions == uninterrupted, "preemption neither loses nor repeats an instruction")
    }

    @Test func theWatchdogStopsRunawayPrograms() throws {
        let harness = try Harness()
        #expect(throws: ExecutionFault.watchdog(limitNanoseconds: 50_000_000)) {
            _ = try harness.run(Kernels.infiniteLoop, lanes: 64, watchdog: 50_000_000)
        }
    }
}

@Suite struct AddressSpaceTests {
    @Test func addressSpaceEnforcesPermissions() throws {
        let memory = try SharedMemory.create(size: 8192)
        let space = AddressSpace()
        let mapping = GpuMapping(gpuAddress: 0x4000, buffer: SoftGPUBuffer(memory: memory), bufferId: 1, offset: 4096, length: 4096, flags: .read)
        space.map(mapping)
        #expect(try space.translate(0x4010, .read).byteOffset == 4096)
        #expect(throws: GpuFault(address: 0x4010, access: .write, reason: .permission)) { _ = try space.translate(0x4010, .write) }
        #expect(throws: GpuFault(address: 0x5000, access: .read, reason: .notMapped)) { _ = try space.translate(0x5000, .read) }
        space.unmap(mapping)
        #expect(space.presentPages == 0)
    }
}

@Suite struct CommandReaderTests {
    func read(_ bytes: [UInt8]) throws(ExecutionFault) -> [Command] {
        var commands: [Command] = []
        var failure: ExecutionFault?
        bytes.withUnsafeBytes { raw in
            var reader = CommandReader(raw)
            do throws(ExecutionFault) { while let command = try reader.next() { commands.append(command) } } catch { failure = error }
        }
        if let failure { throw failure }
        return commands
    }

    @Test func roundTripsEveryCommand() throws {
        var stream = CommandStream()
        stream.fill(address: 0x1000, size: 64, pattern: 9)
        stream.copy(from: 1, to: 2, size: 3)
        stream.timestamp(address: 0x2000)
        stream.dispatch(programAddress: 0x3000, programSize: 16, workgroupCount: 2, workgroupSize: 64, arguments: [7, 8])
        stream.end()
        #expect(try read(stream.bytes) == [
            .fill(address: 0x1000, size: 64, pattern: 9), .copy(source: 1, destination: 2, size: 3),
            .timestamp(address: 0x2000),
            .dispatch(programAddress: 0x3000, programSize: 16, workgroupCount: 2, workgroupSize: 64, arguments: [7, 8]), .end,
        ])
    }

    @Test func malformedCommandsAreIllegalNeverATrap() {
        let header = { (opcode: UInt32, size: UInt32) in
            withUnsafeBytes(of: opcode.littleEndian) { Array($0) } + withUnsafeBytes(of: size.littleEndian) { Array($0) }
        }
        let cases: [[UInt8]] = [
            [1, 0, 0],                                   // truncated header
            header(1, 0),                                // size zero
            header(1, 12),                               // size not a multiple of 8
            header(1, 64) + [UInt8](repeating: 0, count: 8),  // runs past the buffer
            header(99, 8),                               // unknown opcode
            header(2, 16) + [UInt8](repeating: 0, count: 8),  // copy of the wrong size
            header(4, 32) + [UInt8](repeating: 0, count: 20) + [200, 0, 0, 0],  // too many arguments
        ]
        for bytes in cases {
            #expect(throws: ExecutionFault.self, "\(bytes)") { _ = try read(bytes) }
        }
    }
}
