import MagmaPlatform
import MagmaProtocol
import MagmaSystem
@testable import SoftGPU
import Testing

/// The whole-wave fast paths (unit-stride loads and stores, the stride analysis, extent
/// translation of copies) against the lane-by-lane semantics they stand in for.
@Suite struct WholeWaveAccessTests {
    private func unitStride(_ source: String) throws -> [Bool] {
        StrideAnalysis.unitStrideAccesses(try Assembler.assemble(source))
    }

    @Test func theVectorAddsAccessesAreKnownUnitStride() throws {
        let marks = try unitStride(Kernels.vectorAddF32)
        let program = try Assembler.assemble(Kernels.vectorAddF32)
        for (index, instruction) in program.instructions.enumerated() {
            #expect(marks[index] == (instruction.opcode == .ld || instruction.opcode == .st), "instruction \(index)")
        }
    }

    @Test func factsFromDivergentWritesLoopsAndLoadsAreDropped() throws {
        // An offset rewritten on some lanes, then read by every lane after the if.
        let divergent = try unitStride("""
            gid r0
            shli r1, r0, 2
            andi r2, r0, 1
            if r2
              movi r1, 0
            endif
            ld r3, a0, r1, 0
            end
            """)
        #expect(divergent[6] == false)
        // An offset the loop body changes after the load that reads it.
        let looped = try unitStride("""
            gid r0
            shli r1, r0, 2
            loop
              ld r3, a0, r1, 0
              iaddi r1, r1, 4
              movi r4, 1
              break r4
            endloop
            end
            """)
        #expect(looped[3] == false)
        // Strides other than one word, and offsets loaded from memory.
        let others = try unitStride("""
            gid r0
            shli r1, r0, 3
            ld r2, a0, r1, 0
            ld r3, a0, r2, 0
            shli r4, r0, 2
            iaddi r4, r4, 64
            st r3, a0, r4, 0
            end
            """)
        #expect(others[2] == false)
        #expect(others[3] == false)
        #expect(others[6] == true)
    }

    @Test func aLoadAfterDivergenceReadsEachLanesOwnAddress() throws {
        let harness = try Harness()
        for word in 0..<64 { harness.output.base.storeBytes(of: UInt32(1000 + word), toByteOffset: 4 * word, as: UInt32.self) }
        _ = try harness.run("""
            gid r0
            shli r1, r0, 2
            andi r2, r0, 1
            if r2
              movi r1, 0          ; odd lanes read word 0
            endif
            ld r9, a0, r1, 0
            iaddi r3, r0, 64
            shli r3, r3, 2
            st r9, a0, r3, 0      ; out[64 + gid]
            end
            """, lanes: 32)
        for lane in 0..<32 { #expect(harness.u32(64 + lane) == (lane % 2 == 1 ? 1000 : UInt32(1000 + lane)), "lane \(lane)") }
    }

    @Test func aWaveLoadAcrossAPageBoundaryReadsBothPages() throws {
        let harness = try Harness()
        for word in 0..<2048 { harness.output.base.storeBytes(of: UInt32(word), toByteOffset: 4 * word, as: UInt32.self) }
        // Lane l reads word 1000 + l: the wave's 128 bytes straddle the page at byte 4096.
        _ = try harness.run("""
            gid r0
            shli r1, r0, 2
            ld r9, a0, r1, 4000
            iaddi r3, r0, 1536
            shli r3, r3, 2
            st r9, a0, r3, 0
            end
            """, lanes: 32)
        for lane in 0..<32 { #expect(harness.u32(1536 + lane) == UInt32(1000 + lane), "lane \(lane)") }
    }

    @Test func aWaveStoreFaultsAtTheFirstLaneOutsideTheMapping() throws {
        let harness = try Harness()
        // The output mapping is 64 KiB: lanes 16 and up of this wave store past its end.
        let end = Harness.outputAddress + UInt64(harness.output.size)
        #expect(throws: ExecutionFault.memory(GpuFault(address: end, access: .write, reason: .notMapped))) {
            _ = try harness.run("""
                gid r0
                shli r1, r0, 2
                st r0, a0, r1, \(harness.output.size - 64)
                end
                """, lanes: 32)
        }
        // The lanes before the fault stored, as they would lane by lane.
        let last = harness.output.size / 4 - 16
        for lane in 0..<16 { #expect(harness.u32(last + lane) == UInt32(lane), "lane \(lane)") }
    }

    @Test func aMisalignedWaveLoadFaultsAtLaneZero() throws {
        let harness = try Harness()
        #expect(throws: ExecutionFault.memory(GpuFault(address: Harness.outputAddress + 2, access: .read, reason: .misaligned))) {
            _ = try harness.run("""
                gid r0
                shli r1, r0, 2
                ld r2, a0, r1, 2
                end
                """, lanes: 32)
        }
    }

    @Test func anExtentEndsWhereThePagesStopBeingContiguous() throws {
        let space = AddressSpace()
        let first = try SharedMemory.create(size: 8192)
        let second = try SharedMemory.create(size: 4096)
        space.map(GpuMapping(gpuAddress: 0x10000, buffer: SoftGPUBuffer(memory: first), bufferId: 1, offset: 0, length: 8192, flags: [.read, .write]))
        space.map(GpuMapping(gpuAddress: 0x12000, buffer: SoftGPUBuffer(memory: second), bufferId: 2, offset: 0, length: 4096, flags: [.read]))
        let (pointer, count, _) = try space.translateExtent(0x10100, 1 << 20, .read)
        #expect(pointer == first.base + 0x100)
        #expect(count == 8192 - 0x100)   // the next page is another buffer's
        let (_, capped, _) = try space.translateExtent(0x10100, 100, .read)
        #expect(capped == 100)
        let (_, writable, _) = try space.translateExtent(0x11000, 8192, .write)
        #expect(writable == 4096)        // the next page is read-only
        #expect(throws: GpuFault(address: 0x12000, access: .write, reason: .permission)) { _ = try space.translateExtent(0x12000, 16, .write) }
        #expect(throws: GpuFault(address: 0x13000, access: .read, reason: .notMapped)) { _ = try space.translateExtent(0x13000, 16, .read) }
    }

    @Test func theTLBsRunsFaultLikeSinglePagesAndEmptyWhenPagesGo() throws {
        let space = AddressSpace()
        let memory = try SharedMemory.create(size: 16384)
        let mapping = GpuMapping(gpuAddress: 0x20000, buffer: SoftGPUBuffer(memory: memory), bufferId: 1, offset: 0, length: 16384, flags: [.read])
        space.map(mapping)
        var cache = TranslationCache(space)
        #expect(try cache.pointer(0x20010, .read) == memory.base + 0x10)
        #expect(try cache.pointer(0x23ffc, .read) == memory.base + 0x3ffc)   // the same run
        #expect(throws: GpuFault(address: 0x22008, access: .write, reason: .permission)) { _ = try cache.pointer(0x22008, .write) }
        #expect(throws: GpuFault(address: 0x24004, access: .read, reason: .notMapped)) { _ = try cache.pointer(0x24004, .read) }
        #expect(throws: GpuFault(address: 0x20006, access: .read, reason: .misaligned)) { _ = try cache.pointer(0x20006, .read, alignment: 4) }
        // Depopulating a page inside the cached run: the cache forgets the run.
        try space.update(.depopulateTables, mapping, bufferRange: 4096..<8192)
        #expect(throws: GpuFault(address: 0x21000, access: .read, reason: .notMapped)) { _ = try cache.pointer(0x21000, .read) }
        #expect(try cache.pointer(0x22000, .read) == memory.base + 0x2000)
    }
}
