import Dispatch
import MagmaPlatform
import Synchronization

/// One compute dispatch in progress. Workgroups are taken from a shared counter by one worker
/// per compute thread. When the engine asks for its cores back, every worker stops at an
/// instruction boundary and parks its workgroup; `run` resumes the parked workgroups first.
final class DispatchExecution: Sendable {
    struct Request {
        let program: Program
        let workgroupCount: UInt32
        let workgroupSize: UInt32
        let arguments: [UInt64]
    }

    private final class Slice: Sendable {
        let stopped = Atomic<Bool>(false)
        let failure = Locked<ExecutionFault?>(nil)
        let counters = Locked(ExecutionCounters())

        func fail(_ fault: ExecutionFault) {
            failure.withLock { if $0 == nil { $0 = fault } }
            stopped.store(true, ordering: .releasing)
        }
    }

    let request: Request
    /// The program decoded for the request's arguments, once for the whole dispatch.
    private let code: DecodedProgram
    private let nextWorkgroup = Atomic<UInt32>(0)
    private let parked = Locked<[WorkgroupRun]>([])
    /// How many workgroups are parked: read without the lock, so workers take it only when needed.
    private let parkedCount = Atomic<Int>(0)

    init(_ request: Request) {
        self.request = request
        code = DecodedProgram(request.program, arguments: request.arguments)
    }

    /// Whether every workgroup has run to its end.
    var isFinished: Bool {
        parked.withLock { $0.isEmpty } && nextWorkgroup.load(ordering: .relaxed) >= request.workgroupCount
    }

    /// Takes a parked workgroup, if any is left.
    private func unpark() -> WorkgroupRun? {
        parked.withLock { parked in
            guard let group = parked.popLast() else { return nil }
            parkedCount.subtract(1, ordering: .relaxed)
            return group
        }
    }

    /// Runs workgroups until all have finished or `shouldYield` asks for the cores back.
    /// Returns what this slice executed. The first fault stops every worker.
    func run(in space: AddressSpace, threads: Int, watchdog: Watchdog,
             shouldYield: @escaping @Sendable () -> Bool) throws(ExecutionFault) -> ExecutionCounters {
        let remaining = Int(request.workgroupCount - min(request.workgroupCount, nextWorkgroup.load(ordering: .relaxed)))
            + parked.withLock { $0.count }
        guard remaining > 0 else { return ExecutionCounters() }
        let slice = Slice()
        let context = WaveContext(
            code: code, workgroupSize: request.workgroupSize,
            shouldStop: {
                if slice.stopped.load(ordering: .acquiring) { return .illegal("dispatch aborted") }
                return watchdog.check()
            },
            shouldYield: shouldYield)
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, remaining))) { _ in
            var wave = Wavefront(memory: TranslationCache(space))
            var pool: [WaveState] = []
            // The last workgroup this worker finished, reused for its next one.
            var spare: WorkgroupRun?
            defer { slice.counters.withLock { $0 += wave.counters } }
            var ranOne = false   // each worker makes progress in every slice
            while !slice.stopped.load(ordering: .acquiring) {
                let group: WorkgroupRun
                if parkedCount.load(ordering: .acquiring) > 0, let resumed = unpark() {
                    group = resumed
                } else {
                    if ranOne, shouldYield() { return }
                    let index = nextWorkgroup.add(1, ordering: .relaxed).oldValue
                    guard index < request.workgroupCount else { return }
                    let registers = request.program.registersToZero
                    if let reused = spare {
                        spare = nil
                        reused.restart(index: index, workgroupSize: request.workgroupSize, registersToZero: registers)
                        group = reused
                    } else {
                        group = WorkgroupRun(index: index, workgroupSize: request.workgroupSize, registersToZero: registers, pool: &pool)
                    }
                }
                ranOne = true
                do throws(ExecutionFault) {
                    guard try wave.run(group, context) else {
                        parked.withLock { parked in
                            parked.append(group)
                            parkedCount.add(1, ordering: .releasing)
                        }
                        return
                    }
                    if spare == nil { spare = group } else { group.release(to: &pool) }
                } catch {
                    slice.fail(error)
                    return
                }
            }
        }
        if let failure = slice.failure.withLock({ $0 }) { throw failure }
        return slice.counters.withLock { $0 }
    }
}

/// The run-time budget of one piece of work, counted over the slices it has run.
struct Watchdog: Sendable {
    let limitNanoseconds: UInt64
    let deadline: UInt64

    /// A watchdog for a slice of work that has already run `usedNanoseconds`.
    init(limitNanoseconds: UInt64, usedNanoseconds: UInt64 = 0) {
        self.limitNanoseconds = limitNanoseconds
        let left = limitNanoseconds > usedNanoseconds ? limitNanoseconds - usedNanoseconds : 0
        let (deadline, overflow) = Clock.monotonicNanoseconds().addingReportingOverflow(left)
        self.deadline = overflow ? .max : deadline
    }

    /// A watchdog fault once the deadline has passed.
    func check() -> ExecutionFault? {
        Clock.monotonicNanoseconds() > deadline ? .watchdog(limitNanoseconds: limitNanoseconds) : nil
    }
}
