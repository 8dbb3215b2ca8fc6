import Dispatch
import MagmaPlatform
import Synchronization

/// Runs one compute dispatch: workgroups are taken from a shared counter by one worker per
/// compute thread; each worker runs its workgroups' waves in turn. The first fault stops all
/// workers.
enum DispatchRunner {
    struct Request {
        let program: Program
        let workgroupCount: UInt32
        let workgroupSize: UInt32
        let arguments: [UInt64]
    }

    private final class Shared: Sendable {
        let nextWorkgroup = Atomic<UInt32>(0)
        let stopped = Atomic<Bool>(false)
        let failure = Locked<ExecutionFault?>(nil)
        let instructions = Atomic<UInt64>(0)

        func fail(_ fault: ExecutionFault) {
            failure.withLock { if $0 == nil { $0 = fault } }
            stopped.store(true, ordering: .releasing)
        }
    }

    /// Runs `request` in `space`. Returns the number of wave instructions executed.
    static func run(_ request: Request, in space: AddressSpace, threads: Int, watchdog: Watchdog) throws(ExecutionFault) -> UInt64 {
        guard request.workgroupCount > 0 else { return 0 }
        let shared = Shared()
        let workers = max(1, min(threads, Int(request.workgroupCount)))
        let shouldStop: @Sendable () -> ExecutionFault? = {
            if shared.stopped.load(ordering: .acquiring) { return .illegal("dispatch aborted") }
            return watchdog.check()
        }
        let context = WaveContext(program: request.program, arguments: request.arguments,
                                  workgroupSize: request.workgroupSize, shouldStop: shouldStop)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            var wave = Wavefront(memory: TranslationCache(space))
            defer {
                shared.instructions.add(wave.executed, ordering: .relaxed)
                wave.deallocate()
            }
            while !shared.stopped.load(ordering: .acquiring) {
                let workgroup = shared.nextWorkgroup.add(1, ordering: .relaxed).oldValue
                guard workgroup < request.workgroupCount else { return }
                var first: UInt32 = 0
                while first < request.workgroupSize {
                    let lanes = Int(min(UInt32(ISALimits.waveWidth), request.workgroupSize - first))
                    do throws(ExecutionFault) {
                        try wave.run(context, workgroup: workgroup, firstLocal: first, laneCount: lanes)
                    } catch {
                        shared.fail(error)
                        return
                    }
                    first += UInt32(ISALimits.waveWidth)
                }
            }
        }
        if let failure = shared.failure.withLock({ $0 }) { throw failure }
        return shared.instructions.load(ordering: .relaxed)
    }
}

/// The deadline of one piece of work.
struct Watchdog: Sendable {
    let limitNanoseconds: UInt64
    let deadline: UInt64

    init(limitNanoseconds: UInt64) {
        self.limitNanoseconds = limitNanoseconds
        let (deadline, overflow) = Clock.monotonicNanoseconds().addingReportingOverflow(limitNanoseconds)
        self.deadline = overflow ? .max : deadline
    }

    /// A watchdog fault once the deadline has passed.
    func check() -> ExecutionFault? {
        Clock.monotonicNanoseconds() > deadline ? .watchdog(limitNanoseconds: limitNanoseconds) : nil
    }
}
