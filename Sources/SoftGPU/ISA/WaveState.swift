/// Everything one wave needs to stop at an instruction boundary and resume later, on any
/// thread: its registers, control-flow frames, program counter and execution mask.
final class WaveState: @unchecked Sendable {
    /// An open `if` or `loop`.
    struct Frame {
        /// Made in the interpreter's loop: inlined there even where the compiler sees one file at a time.
        @inline(__always) init(isLoop: Bool, saved: UInt32, lanes: UInt32, next: Int, bodyStart: Int) {
            self.isLoop = isLoop
            self.saved = saved
            self.lanes = lanes
            self.next = next
            self.bodyStart = bodyStart
        }

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
    // The stored variables have no dynamic exclusivity checks: only the worker running the wave
    // touches them (a workgroup runs on one worker at a time), and the interpreter reads and
    // writes them on every `resume`.
    @exclusivity(unchecked) var depth = 0
    @exclusivity(unchecked) var pc = 0
    @exclusivity(unchecked) var active: UInt32 = 0
    /// The local id of lane 0.
    @exclusivity(unchecked) var firstLocal: UInt32 = 0
    @exclusivity(unchecked) var status = Status.ready

    init() {
        registers = .allocate(capacity: ISALimits.registerCount * ISALimits.waveWidth)
        frames = .allocate(capacity: ISALimits.maxNesting)
    }

    deinit {
        registers.deallocate()
        frames.deallocate()
    }

    /// Starts the wave over: the registers of the mask `registersToZero` zeroed (the program
    /// writes the others before reading them), `laneCount` active lanes from local id `firstLocal`.
    func reset(firstLocal: UInt32, laneCount: Int, registersToZero: UInt32) {
        var remaining = registersToZero
        while remaining != 0 {
            let register = remaining.trailingZeroBitCount
            (registers + register * ISALimits.waveWidth).initialize(repeating: 0, count: ISALimits.waveWidth)
            remaining &= remaining &- 1
        }
        depth = 0
        pc = 0
        active = laneCount >= ISALimits.waveWidth ? .max : (UInt32(1) << UInt32(laneCount)) &- 1
        self.firstLocal = firstLocal
        status = .ready
    }
}
