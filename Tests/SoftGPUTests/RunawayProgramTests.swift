import MagmaPlatform
import MagmaProtocol
@testable import SoftGPU
import MagmaTestSupport
import Testing

/// Programs that never end, or end after a few instructions in an endless dispatch: the
/// watchdog stops them and preemption interrupts them, however their waves stop and start.
@Suite(.hangGuard) struct RunawayProgramTests {
    private static let watchdog: UInt64 = 100_000_000

    /// A dispatch of `source` on a fresh address space (a0 is a mapped output page).
    private func dispatch(_ source: String, workgroups: UInt32, size: UInt32) throws -> (DispatchExecution, Harness) {
        let harness = try Harness()
        var arguments = [Harness.outputAddress]
        arguments += repeatElement(0, count: ISALimits.argumentCount - 1)
        let request = DispatchExecution.Request(program: try Assembler.assemble(source), workgroupCount: workgroups,
                                                workgroupSize: size, arguments: arguments)
        return (DispatchExecution(request), harness)
    }

    /// Runs the dispatch until it faults; returns the fault.
    private func fault(of execution: DispatchExecution, in harness: Harness) -> ExecutionFault? {
        do throws(ExecutionFault) {
            _ = try execution.run(in: harness.space, threads: 2, watchdog: Watchdog(limitNanoseconds: Self.watchdog), shouldYield: { false })
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [UInt32(1), 64, 1024])
    func aBarrierInAnEndlessLoopMeetsTheWatchdog(workgroupSize: UInt32) throws {
        let (execution, harness) = try dispatch(Kernels.barrierLoop, workgroups: 1, size: workgroupSize)
        #expect(fault(of: execution, in: harness) == .watchdog(limitNanoseconds: Self.watchdog))
    }

    @Test func aBarrierInAnEndlessLoopYieldsWhenAsked() throws {
        let (execution, harness) = try dispatch(Kernels.barrierLoop, workgroups: 4, size: 96)
        var instructions: UInt64 = 0
        for _ in 0..<8 {
            instructions += try execution.run(in: harness.space, threads: 2, watchdog: Watchdog(limitNanoseconds: 60_000_000_000),
                                              shouldYield: { true }).instructions
            #expect(!execution.isFinished)
        }
        #expect(instructions > 0, "every slice makes progress")
    }

    /// Workgroups far shorter than one check interval, in the largest dispatch there is.
    @Test(arguments: [(UInt32(1), "end"), (1024, "lid r0\nshli r1, r0, 2\nend")])
    func shortWavesOfAnEndlessDispatchMeetTheWatchdog(workgroupSize: UInt32, source: String) throws {
        let (execution, harness) = try dispatch(source, workgroups: .max, size: workgroupSize)
        #expect(fault(of: execution, in: harness) == .watchdog(limitNanoseconds: Self.watchdog))
    }

    @Test func shortWavesOfAnEndlessDispatchYieldWhenAsked() throws {
        let (execution, harness) = try dispatch("end", workgroups: .max, size: 1)
        for _ in 0..<8 {
            let ran = try execution.run(in: harness.space, threads: 2, watchdog: Watchdog(limitNanoseconds: 60_000_000_000), shouldYield: { true })
            #expect(ran.instructions > 0)
            #expect(!execution.isFinished)
        }
    }

    @Test func theWatchdogCountsEverySliceOfADispatch() throws {
        // Slices that each stop at the first check still add up to the watchdog's limit: the
        // budget is the work's, not the slice's.
        let (execution, harness) = try dispatch(Kernels.barrierLoop, workgroups: 1, size: 1)
        var used: UInt64 = 0
        var outcome: ExecutionFault?
        var slices = 0
        while outcome == nil, slices < 1_000_000 {
            slices += 1
            let started = Clock.monotonicNanoseconds()
            do throws(ExecutionFault) {
                _ = try execution.run(in: harness.space, threads: 1, watchdog: Watchdog(limitNanoseconds: Self.watchdog, usedNanoseconds: used),
                                      shouldYield: { true })
            } catch {
                outcome = error
            }
            used += Clock.monotonicNanoseconds() - started
        }
        #expect(outcome == .watchdog(limitNanoseconds: Self.watchdog))
    }
}
