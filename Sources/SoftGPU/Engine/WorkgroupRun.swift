/// One workgroup in progress: its waves run in turn on one worker and meet at barriers. It can
/// stop when a wave yields and resume later on any worker.
final class WorkgroupRun: @unchecked Sendable {
    // No dynamic exclusivity checks: one worker at a time runs the workgroup (see WaveState).
    @exclusivity(unchecked) private(set) var index: UInt32
    @exclusivity(unchecked) private(set) var waves: [WaveState]

    /// Starts workgroup `index` of a program whose waves zero the registers `registersToZero`, taking wave states
    /// from `pool` (or making new ones).
    init(index: UInt32, workgroupSize: UInt32, registersToZero: UInt32, pool: inout [WaveState]) {
        self.index = index
        let width = UInt32(ISALimits.waveWidth)
        let count = Int((workgroupSize + width - 1) / width)
        waves = (0..<count).map { _ in pool.popLast() ?? WaveState() }
        resetWaves(workgroupSize: workgroupSize, registersToZero: registersToZero)
    }

    /// Starts workgroup `index` of the same dispatch over, in this finished one's wave states:
    /// a worker reuses one object for every workgroup it runs to the end.
    func restart(index: UInt32, workgroupSize: UInt32, registersToZero: UInt32) {
        self.index = index
        resetWaves(workgroupSize: workgroupSize, registersToZero: registersToZero)
    }

    private func resetWaves(workgroupSize: UInt32, registersToZero: UInt32) {
        let width = UInt32(ISALimits.waveWidth)
        let waves = self.waves
        for waveIndex in waves.indices {
            let first = UInt32(waveIndex) * width
            waves[waveIndex].reset(firstLocal: first, laneCount: Int(min(width, workgroupSize - first)), registersToZero: registersToZero)
        }
    }

    /// Gives the wave states back once the workgroup has finished.
    func release(to pool: inout [WaveState]) {
        pool.append(contentsOf: waves)
        waves = []
    }
}

extension Wavefront {
    /// Runs a workgroup's waves until all have finished (true) or one is asked to yield
    /// (false). A `barrier` holds a wave until every other wave of the workgroup has reached a
    /// barrier or finished. The watchdog and preemption checks run inside `resume`, at a cadence
    /// this executor keeps across waves and barriers, so waves that meet at barriers for ever
    /// are still stopped or preempted.
    mutating func run(_ group: WorkgroupRun, _ context: WaveContext) throws(ExecutionFault) -> Bool {
        // One array held for the whole call: its waves are borrowed from it, not retained one by one.
        let waves = group.waves
        while true {
            var finished = 0
            for index in waves.indices {
                let wave = waves[index]
                switch wave.status {
                case .finished: finished += 1
                case .atBarrier: break
                case .ready:
                    switch try resume(wave, context, workgroup: group.index) {
                    case .finished:
                        wave.status = .finished
                        finished += 1
                    case .barrier:
                        wave.status = .atBarrier
                    case .yielded:
                        return false
                    }
                }
            }
            if finished == waves.count { return true }
            // Every wave that has not finished waits at a barrier: release them together.
            for index in waves.indices where waves[index].status == .atBarrier { waves[index].status = .ready }
        }
    }
}
