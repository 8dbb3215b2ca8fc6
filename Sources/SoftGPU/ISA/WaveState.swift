/// Everything one wave needs to stop at an instruction boundary and resume later, on any
/// thread: its registers, control-flow frames, program counter and execution mask.
final class WaveState: @unchecked Sendable {
    /// An open `if` or `loop`.
    struct Frame {
        let isLoop: Bool
        let saved: UInt32
        /// If frames: the lanes that took the then-branch. Loop frames: lanes that broke.
        var lanes: UInt32
        /// The instruction that closes this frame's current part.
        var next: Int
        /// Loop frames: the first instruction of the body.
        let bodyStart: Int
    }

    /// Where a wave stopped.
    enum Status {
        /// Can run.
        case ready
        /// Waits at a workgroup barrier.
        case atBarrier
        /// Ran its `end`.
        case finished
    }

    /// r0 ... r31 of each lane, register-major.
    let registers: UnsafeMutablePointer<UInt32>
    /// The open frames, innermost last: `depth` of the `ISALimits.maxNesting` slots.
    let frames: UnsafeMutablePointer<Frame>
    var depth = 0
    var pc = 0
    var active: UInt32 = 0
    /// The local id of lane 0.
    var firstLocal: UInt32 = 0
    var status = Status.ready

    init() {
        registers = .allocate(capacity: ISALimits.registerCount * ISALimits.waveWidth)
        frames = .allocate(capacity: ISALimits.maxNesting)
    }

    deinit {
        registers.deallocate()
        frames.deallocate()
    }

    /// Starts the wave over: registers r0 up to `registerCount` zeroed (the program reads no
    /// others), `laneCount` active lanes from local id `firstLocal`.
    func reset(firstLocal: UInt32, laneCount: Int, registerCount: Int) {
        registers.initialize(repeating: 0, count: registerCount * ISALimits.waveWidth)
        depth = 0
        pc = 0
        active = laneCount >= ISALimits.waveWidth ? .max : (UInt32(1) << UInt32(laneCount)) &- 1
        self.firstLocal = firstLocal
        status = .ready
    }
}
