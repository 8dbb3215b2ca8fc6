// The virtio device model fuzz target. Built with -DFUZZING and --sanitize=fuzzer (Fuzz/run.sh)
// it is a libFuzzer binary; otherwise it replays inputs and writes seeds (FuzzReplay).
import FuzzTargets

#if FUZZING
@c(LLVMFuzzerTestOneInput)
public func fuzzVirtio(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    VirtioTarget.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
#else
@main
struct FuzzVirtioReplay {
    static func main() { FuzzReplay.main(target: VirtioTarget.run, seeds: VirtioSeeds.seeds) }
}
#endif
