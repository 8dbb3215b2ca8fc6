import Foundation
import FuzzTargets
import MagmaTestSupport
import Testing

/// The committed fuzz corpora (seeds and every crash the fuzzers ever found) replayed through the
/// fuzz targets on every test run: none may trap.
@Suite(.hangGuard) struct FuzzCorpusTests {
    private let corpus = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "Fuzz/corpus")

    @Test func decoderCorpusReplays() throws {
        let inputs = try FuzzReplay.inputs([corpus.appending(path: "decoder").path])
        #expect(try inputs.count >= FuzzSeeds.decoder().count)
        for input in inputs { DecoderTarget.run(Array(try Data(contentsOf: input))) }
    }

    @Test func serverCorpusReplays() throws {
        let inputs = try FuzzReplay.inputs([corpus.appending(path: "server").path])
        #expect(try inputs.count >= FuzzSeeds.server().count)
        for input in inputs { ServerTarget.run(Array(try Data(contentsOf: input))) }
    }

    @Test func virtioCorpusReplays() throws {
        let inputs = try FuzzReplay.inputs([corpus.appending(path: "virtio").path])
        #expect(try inputs.count >= VirtioSeeds.seeds().count)
        for input in inputs { VirtioTarget.run(Array(try Data(contentsOf: input))) }
    }

    @Test func vhostUserCorpusReplays() throws {
        let inputs = try FuzzReplay.inputs([corpus.appending(path: "vhost-user").path])
        #expect(try inputs.count >= VhostUserSeeds.seeds().count)
        for input in inputs { VhostUserTarget.run(Array(try Data(contentsOf: input))) }
        // The seeds reach the device: their control chains are completed on the used ring.
        let seeds = try VhostUserSeeds.seeds()
        #expect(VhostUserTarget.run(seeds[1]) == 2)
        #expect(VhostUserTarget.run(seeds[2]) == 6)
    }
}
