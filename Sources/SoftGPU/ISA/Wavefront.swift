import MagmaPlatform

/// What one wave needs to know about its dispatch.
struct WaveContext: Sendable {
    let program: Program
    let arguments: [UInt64]
    let workgroupSize: UInt32
    /// A fault that stops the dispatch (the watchdog, another wave's fault), checked every
    /// `checkInterval` instructions.
    let shouldStop: @Sendable () -> ExecutionFault?
    /// Whether to give the engine back (preemption), checked at the same cadence.
    let shouldYield: @Sendable () -> Bool

    /// Instructions between two checks of `shouldStop` and `shouldYield`, counted over
    /// everything one executor runs (every wave and workgroup of a worker's slice), not per
    /// `resume` call: waves that stop at a barrier or end after a few instructions are checked
    /// at the same cadence as long ones.
    static let checkInterval = 1024
}

/// Why `Wavefront.resume` returned.
enum WaveStop {
    /// The wave ran `end`.
    case finished
    /// The wave reached a `barrier`; it resumes after it.
    case barrier
    /// The engine asked for the core back; the wave resumes at the same instruction.
    case yielded
}

/// Executes waves: 32 lanes that share one program counter, each instruction applied to
/// every active lane. Divergence is handled with an execution mask and a stack of if/loop
/// frames; when no lane is active the wave jumps to the frame's closing instruction. A wave's
/// state lives in a `WaveState`, so it can stop at any instruction boundary and resume.
struct Wavefront {
    private static let width = ISALimits.waveWidth
    private static let allLanes: UInt32 = .max

    private var frames: [WaveState.Frame] = []
    /// What this executor has run and moved, for the performance counters.
    private(set) var counters = ExecutionCounters()
    /// Instructions run since the last check of `shouldStop` and `shouldYield`, carried from
    /// one `resume` to the next.
    private var sinceCheck = 0
    var memory: TranslationCache

    init(memory: TranslationCache) {
        self.memory = memory
    }

    @inline(__always) private func forEachLane(_ mask: UInt32, _ body: (Int) throws(ExecutionFault) -> Void) throws(ExecutionFault) {
        if mask == Self.allLanes {
            for lane in 0..<Self.width { try body(lane) }
        } else {
            var remaining = mask
            while remaining != 0 {
                let lane = remaining.trailingZeroBitCount
                try body(lane)
                remaining &= remaining &- 1
            }
        }
    }

    private var brokenLanes: UInt32 { frames.reduce(0) { $0 | ($1.isLoop ? $1.lanes : 0) } }

    /// Runs `wave` (of workgroup `workgroup`) from where it stopped until it ends, reaches a
    /// barrier or is asked to yield. The checks for stopping and yielding keep their cadence
    /// across calls (`WaveContext.checkInterval`). A fault leaves the wave's state undefined.
    mutating func resume(_ wave: WaveState, _ context: WaveContext, workgroup: UInt32) throws(ExecutionFault) -> WaveStop {
        swap(&frames, &wave.frames)
        defer { swap(&frames, &wave.frames) }
        let program = context.program.instructions
        let partner = context.program.partner
        let args = context.arguments
        let firstLocal = wave.firstLocal
        var active = wave.active
        var pc = wave.pc
        var sinceCheck = self.sinceCheck
        defer {
            wave.active = active
            wave.pc = pc
            self.sinceCheck = sinceCheck
        }

        // Register access through a local pointer the optimizer can keep in a register.
        let registers = wave.registers
        @inline(__always) func reg(_ r: UInt8, _ lane: Int) -> UInt32 { registers[Int(r) &* Self.width &+ lane] }
        @inline(__always) func set(_ r: UInt8, _ lane: Int, _ value: UInt32) { registers[Int(r) &* Self.width &+ lane] = value }
        @inline(__always) func float(_ r: UInt8, _ lane: Int) -> Float { Float(bitPattern: reg(r, lane)) }
        func localId(_ lane: Int) -> UInt32 { firstLocal &+ UInt32(lane) }

        while true {
            sinceCheck &+= 1
            if sinceCheck >= WaveContext.checkInterval {
                sinceCheck = 0
                if let stop = context.shouldStop() { throw stop }
                if context.shouldYield() { return .yielded }
            }
            counters.instructions &+= 1
            let ins = program[pc]
            let d = ins.d, a = ins.a, b = ins.b, imm = ins.immediate
            pc &+= 1
            switch ins.opcode {
            case .end:
                return .finished
            case .barrier:
                return .barrier
            case .movi: try forEachLane(active) { set(d, $0, imm) }
            case .mov: try forEachLane(active) { set(d, $0, reg(a, $0)) }
            case .arg: try forEachLane(active) { set(d, $0, UInt32(truncatingIfNeeded: args[Int(imm)])) }
            case .argHigh: try forEachLane(active) { set(d, $0, UInt32(truncatingIfNeeded: args[Int(imm)] >> 32)) }
            case .gid: try forEachLane(active) { set(d, $0, workgroup &* context.workgroupSize &+ localId($0)) }
            case .lid: try forEachLane(active) { set(d, $0, localId($0)) }
            case .wgid: try forEachLane(active) { set(d, $0, workgroup) }
            case .wgsize: try forEachLane(active) { set(d, $0, context.workgroupSize) }
            case .lane: try forEachLane(active) { set(d, $0, UInt32($0)) }
            case .iadd: try forEachLane(active) { set(d, $0, reg(a, $0) &+ reg(b, $0)) }
            case .isub: try forEachLane(active) { set(d, $0, reg(a, $0) &- reg(b, $0)) }
            case .imul: try forEachLane(active) { set(d, $0, reg(a, $0) &* reg(b, $0)) }
            case .and: try forEachLane(active) { set(d, $0, reg(a, $0) & reg(b, $0)) }
            case .or: try forEachLane(active) { set(d, $0, reg(a, $0) | reg(b, $0)) }
            case .xor: try forEachLane(active) { set(d, $0, reg(a, $0) ^ reg(b, $0)) }
            case .shl: try forEachLane(active) { set(d, $0, reg(a, $0) << (reg(b, $0) & 31)) }
            case .shr: try forEachLane(active) { set(d, $0, reg(a, $0) >> (reg(b, $0) & 31)) }
            case .sar: try forEachLane(active) { set(d, $0, UInt32(bitPattern: Int32(bitPattern: reg(a, $0)) >> (reg(b, $0) & 31))) }
            case .iaddi: try forEachLane(active) { set(d, $0, reg(a, $0) &+ imm) }
            case .shli: try forEachLane(active) { set(d, $0, reg(a, $0) << (imm & 31)) }
            case .shri: try forEachLane(active) { set(d, $0, reg(a, $0) >> (imm & 31)) }
            case .andi: try forEachLane(active) { set(d, $0, reg(a, $0) & imm) }
            case .umin: try forEachLane(active) { set(d, $0, min(reg(a, $0), reg(b, $0))) }
            case .umax: try forEachLane(active) { set(d, $0, max(reg(a, $0), reg(b, $0))) }
            case .udiv: try forEachLane(active) { let divisor = reg(b, $0); set(d, $0, divisor == 0 ? .max : reg(a, $0) / divisor) }
            case .fadd: try forEachLane(active) { set(d, $0, (float(a, $0) + float(b, $0)).bitPattern) }
            case .fsub: try forEachLane(active) { set(d, $0, (float(a, $0) - float(b, $0)).bitPattern) }
            case .fmul: try forEachLane(active) { set(d, $0, (float(a, $0) * float(b, $0)).bitPattern) }
            case .fdiv: try forEachLane(active) { set(d, $0, (float(a, $0) / float(b, $0)).bitPattern) }
            case .fmin: try forEachLane(active) { set(d, $0, Float.minimum(float(a, $0), float(b, $0)).bitPattern) }
            case .fmax: try forEachLane(active) { set(d, $0, Float.maximum(float(a, $0), float(b, $0)).bitPattern) }
            case .fma: try forEachLane(active) { set(d, $0, float(d, $0).addingProduct(float(a, $0), float(b, $0)).bitPattern) }
            case .itof: try forEachLane(active) { set(d, $0, Float(Int32(bitPattern: reg(a, $0))).bitPattern) }
            case .utof: try forEachLane(active) { set(d, $0, Float(reg(a, $0)).bitPattern) }
            case .ftoi: try forEachLane(active) { set(d, $0, UInt32(bitPattern: Self.saturatingInt32(float(a, $0)))) }
            case .ilt: try forEachLane(active) { set(d, $0, Int32(bitPattern: reg(a, $0)) < Int32(bitPattern: reg(b, $0)) ? 1 : 0) }
            case .ult: try forEachLane(active) { set(d, $0, reg(a, $0) < reg(b, $0) ? 1 : 0) }
            case .ieq: try forEachLane(active) { set(d, $0, reg(a, $0) == reg(b, $0) ? 1 : 0) }
            case .ine: try forEachLane(active) { set(d, $0, reg(a, $0) != reg(b, $0) ? 1 : 0) }
            case .flt: try forEachLane(active) { set(d, $0, float(a, $0) < float(b, $0) ? 1 : 0) }
            case .feq: try forEachLane(active) { set(d, $0, float(a, $0) == float(b, $0) ? 1 : 0) }
            case .ld:
                let base = args[Int(a)] &+ UInt64(bitPattern: Int64(Int32(bitPattern: imm)))
                counters.bytesRead &+= UInt64(active.nonzeroBitCount * 4)
                try forEachLane(active) { lane throws(ExecutionFault) in
                    let pointer = try address(base, reg(b, lane), .read)
                    set(d, lane, pointer.load(as: UInt32.self))
                }
            case .st:
                let base = args[Int(a)] &+ UInt64(bitPattern: Int64(Int32(bitPattern: imm)))
                counters.bytesWritten &+= UInt64(active.nonzeroBitCount * 4)
                try forEachLane(active) { lane throws(ExecutionFault) in
                    let pointer = try address(base, reg(b, lane), .write)
                    pointer.storeBytes(of: reg(d, lane), as: UInt32.self)
                }
            case .atomadd:
                let base = args[Int(a)] &+ UInt64(bitPattern: Int64(Int32(bitPattern: imm)))
                counters.bytesRead &+= UInt64(active.nonzeroBitCount * 4)
                counters.bytesWritten &+= UInt64(active.nonzeroBitCount * 4)
                try forEachLane(active) { lane throws(ExecutionFault) in
                    _ = try address(base, reg(b, lane), .read)
                    let pointer = try address(base, reg(b, lane), .write)
                    set(d, lane, SharedAtomics.add(pointer, reg(d, lane)))
                }
            case .wsum:
                var sum: UInt32 = 0
                try forEachLane(active) { sum &+= reg(a, $0) }
                try forEachLane(active) { set(d, $0, sum) }
            case .wfsum:
                var sum: Float = 0
                try forEachLane(active) { sum += float(a, $0) }
                try forEachLane(active) { set(d, $0, sum.bitPattern) }
            case .if:
                var taken: UInt32 = 0
                try forEachLane(active) { if reg(a, $0) != 0 { taken |= 1 << UInt32($0) } }
                frames.append(WaveState.Frame(isLoop: false, saved: active, lanes: taken, next: Int(partner[pc - 1]), bodyStart: pc))
                active = taken
            case .else:
                let top = frames.count - 1
                active = frames[top].saved & ~frames[top].lanes & ~brokenLanes
                frames[top].next = Int(partner[pc - 1])
            case .endif:
                let frame = frames.removeLast()
                active = frame.saved & ~brokenLanes
            case .loop:
                frames.append(WaveState.Frame(isLoop: true, saved: active, lanes: 0, next: Int(partner[pc - 1]), bodyStart: pc))
            case .break:
                var leaving: UInt32 = 0
                try forEachLane(active) { if reg(a, $0) != 0 { leaving |= 1 << UInt32($0) } }
                if let loop = frames.lastIndex(where: \.isLoop) { frames[loop].lanes |= leaving }
                active &= ~leaving
            case .endloop:
                if active != 0 {
                    pc = frames[frames.count - 1].bodyStart
                } else {
                    let frame = frames.removeLast()
                    active = frame.saved & ~brokenLanes
                }
            }
            // With no lane left, skip to the instruction that closes the innermost frame.
            if active == 0, let top = frames.last {
                pc = top.next
            }
        }
    }

    @inline(__always) private mutating func address(_ base: UInt64, _ offset: UInt32, _ access: GpuAccess) throws(ExecutionFault) -> UnsafeMutableRawPointer {
        let address = base &+ UInt64(offset)
        do { return try memory.pointer(address, access, alignment: 4) } catch { throw .memory(error) }
    }

    private static func saturatingInt32(_ value: Float) -> Int32 {
        if value.isNaN { return 0 }
        if value >= 2_147_483_648 { return .max }
        if value < -2_147_483_648 { return .min }
        return Int32(value)
    }
}
