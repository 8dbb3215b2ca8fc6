import Foundation
import FuzzTargets
import MagmaTestSupport
import Testing

/// The GPU-program fuzz corpus (the runaway programs found so far, and every crash the fuzzer
/// finds) replayed through the fuzz target on every test run: none may trap, so none may run
/// away.
@Suite(.hangGuard) struct GPUProgramCorpusTests {
    private let corpus = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "Fuzz/corpus/gpu-program")

    @Test func corpusReplays() throws {
        let inputs = try FuzzReplay.inputs([corpus.path])
        #expect(try inputs.count >= FuzzSeeds.gpuProgram().count)
        for input in inputs { GPUProgramTarget.run(Array(try Data(contentsOf: input))) }
    }

    @Test func theSeedsAreTheCommittedCorpus() throws {
        let committed = try Set(FuzzReplay.inputs([corpus.path]).map { Array(try Data(contentsOf: $0)) })
        for (index, seed) in try FuzzSeeds.gpuProgram().enumerated() {
            #expect(committed.contains(seed), "seed \(index) is in Fuzz/corpus/gpu-program")
        }
    }

    @Test func casesRoundTripThroughTheirEncoding() throws {
        for seed in try FuzzSeeds.gpuProgram() {
            #expect(GPUProgramCase(bytes: seed)?.bytes == seed)
        }
        #expect(GPUProgramCase(bytes: [1, 2, 3]) == nil, "shorter than the header")
    }
}
