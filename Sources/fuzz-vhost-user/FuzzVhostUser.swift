// The vhost-user back-end fuzz target. Built with -DFUZZING and --sanitize=fuzzer (Fuzz/run.sh)
// it is a libFuzzer binary; otherwise it replays inputs and writes seeds (FuzzReplay).
import FuzzTargets

#if FUZZING
@c(LLVMFuzzerTestOneInput)
public func fuzzVhostUser(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    _ = VhostUserTarget.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
#else
@main
struct FuzzVhostUserReplay {
    static func main() { FuzzReplay.main(target: { _ = VhostUserTarget.run($0) }, seeds: VhostUserSeeds.seeds) }
}
#endif
