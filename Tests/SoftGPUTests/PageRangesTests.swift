import MagmaPlatform
import MagmaProtocol
import MagmaSystem
@testable import SoftGPU
import Testing

@Suite struct PageRangesTests {
    @Test func insertMergesAndRemoveSplits() {
        var set = PageRanges()
        set.insert(10..<20)
        set.insert(30..<40)
        set.insert(20..<25)           // touches the first: merged
        #expect(set.ranges == [10..<25, 30..<40])
        set.insert(24..<31)           // bridges both
        #expect(set.ranges == [10..<40])
        set.remove(15..<16)           // splits
        #expect(set.ranges == [10..<15, 16..<40])
        #expect(set.contains(14) && !set.contains(15) && set.contains(16) && !set.contains(40) && !set.contains(9))
        set.remove(0..<100)
        #expect(set.ranges.isEmpty && set.count == 0)
    }

    @Test func matchesAPageBitmapUnderRandomOperations() {
        let seed = UInt64.random(in: 1...UInt64.max)
        var random = SplitMix(seed: seed)
        var set = PageRanges()
        var bitmap = [Bool](repeating: false, count: 256)
        for _ in 0..<2_000 {
            let low = UInt64(random.next() % 256)
            let high = min(256, low + random.next() % 32)
            let inserting = random.next() % 2 == 0
            if inserting { set.insert(low..<high) } else { set.remove(low..<high) }
            for page in low..<high { bitmap[Int(page)] = inserting }
        }
        #expect((0..<256).allSatisfy { set.contains(UInt64($0)) == bitmap[$0] }, "seed \(seed)")
        #expect(set.count == UInt64(bitmap.filter { $0 }.count), "seed \(seed)")
        #expect(zip(set.ranges, set.ranges.dropFirst()).allSatisfy { $0.upperBound < $1.lowerBound }, "disjoint, not adjacent; seed \(seed)")
    }

    @Test func aDepopulatedPageOfAHugeMappingFaults() throws {
        let memory = try SharedMemory.create(size: 1 << 30)
        let space = AddressSpace()
        let mapping = GpuMapping(gpuAddress: 1 << 40, buffer: SoftGPUBuffer(memory: memory), bufferId: 1, offset: 0, length: 1 << 30, flags: [.read, .write])
        space.map(mapping)
        #expect(space.presentPages == (1 << 30) / 4096)
        try space.update(.depopulateTables, mapping, bufferRange: 8192..<12288)
        #expect(throws: GpuFault(address: (1 << 40) + 8192, access: .read, reason: .notMapped)) { _ = try space.translate((1 << 40) + 8192, .read) }
        #expect(try space.translate((1 << 40) + 12288, .write).byteOffset == 12288)
        try space.update(.populateTables, mapping, bufferRange: 0..<(1 << 30))
        #expect(try space.translate((1 << 40) + 8192, .read).byteOffset == 8192)
    }
}

/// A small seeded generator, so a failure can be replayed from the printed seed.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
