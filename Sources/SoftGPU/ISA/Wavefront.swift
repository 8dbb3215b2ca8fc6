import MagmaPlatform

/// What one wave needs to know about its dispatch.
struct WaveContext: Sendable {
    /// The program decoded for this dispatch's arguments: what waves execute.
    let code: DecodedProgram
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
    static var checkInterval: Int { 1024 }

    init(code: DecodedProgram, workgroupSize: UInt32, shouldStop: @escaping @Sendable () -> ExecutionFault?,
         shouldYield: @escaping @Sendable () -> Bool) {
        self.code = code
        self.workgroupSize = workgroupSize
        self.shouldStop = shouldStop
        self.shouldYield = shouldYield
    }
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
    // Computed constants: a stored static would be reached through swift_once on every use.
    @inline(__always) private static var width: Int { 32 }
    @inline(__always) private static var allLanes: UInt32 { .max }

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

    /// `d[lane] = op(lane)` for the active lanes. With every lane active it is a plain loop over
    /// the register row that the compiler vectorizes.
    @inline(__always) private static func lanes(_ mask: UInt32, _ d: UnsafeMutablePointer<UInt32>, _ op: (Int) -> UInt32) {
        if mask == allLanes {
            for lane in 0..<width { d[lane] = op(lane) }
        } else {
            var remaining = mask
            while remaining != 0 {
                let lane = remaining.trailingZeroBitCount
                d[lane] = op(lane)
                remaining &= remaining &- 1
            }
        }
    }

    /// `d[lane] = first + lane` for the active lanes. Not inlined: inlined, the optimizer computes
    /// the rows of `gid` and `lid` before the interpreter's loop, on every `resume` of every program.
    @inline(never) private static func ascending(_ mask: UInt32, _ d: UnsafeMutablePointer<UInt32>, from first: UInt32) {
        lanes(mask, d) { first &+ UInt32($0) }
    }

    /// The lanes of `mask` whose `a` is not zero.
    @inline(__always) private static func nonzero(_ mask: UInt32, _ a: UnsafeMutablePointer<UInt32>) -> UInt32 {
        var bits: UInt32 = 0
        for lane in 0..<width { bits |= (a[lane] != 0 ? 1 : 0) << UInt32(lane) }
        return bits & mask
    }

    /// Moves a whole wave's 128 bytes in two 64-byte vector loads and stores.
    @inline(__always) private static func copyWave(from source: UnsafeRawPointer, to target: UnsafeMutableRawPointer) {
        let low = source.loadUnaligned(as: SIMD16<UInt32>.self)
        let high = source.loadUnaligned(fromByteOffset: 64, as: SIMD16<UInt32>.self)
        target.storeBytes(of: low, as: SIMD16<UInt32>.self)
        target.storeBytes(of: high, toByteOffset: 64, as: SIMD16<UInt32>.self)
    }

    /// Bytes one 32-bit access moves over the lanes of `mask` (without a software popcount for
    /// the common whole wave).
    @inline(__always) private static func bytes(_ mask: UInt32) -> UInt64 {
        mask == allLanes ? UInt64(4 * width) : UInt64(mask.nonzeroBitCount * 4)
    }

    /// Whether a whole wave's 128 bytes from `start` lie in one page.
    @inline(__always) private static func fitsInPage(_ start: UInt64) -> Bool {
        start & 4095 <= 4096 &- UInt64(4 * width)
    }

    /// Whether 32 consecutive words from offset `first` stay below 2^32 (do not wrap to 0).
    @inline(__always) private static func noWrap(_ first: UInt32) -> Bool {
        first <= UInt32.max - UInt32(4 * (width - 1))
    }

    /// Whether all 32 lanes of `offsets` address consecutive words from `offsets[0]` without
    /// wrapping: a whole-wave unit-stride access.
    @inline(__always) private static func isUnitStride(_ offsets: UnsafeMutablePointer<UInt32>) -> Bool {
        let first = offsets[0]
        guard noWrap(first) else { return false }
        var difference: UInt32 = 0
        for lane in 0..<width { difference |= offsets[lane] ^ (first &+ UInt32(4 * lane)) }
        return difference == 0
    }

    /// The lanes that broke out of any open loop.
    @inline(__always) private static func brokenLanes(_ frames: UnsafeMutablePointer<WaveState.Frame>, _ depth: Int) -> UInt32 {
        var lanes: UInt32 = 0
        for index in 0..<depth where frames[index].isLoop { lanes |= frames[index].lanes }
        return lanes
    }

    /// Runs `wave` (of workgroup `workgroup`) from where it stopped until it ends, reaches a
    /// barrier or is asked to yield. The checks for stopping and yielding keep their cadence
    /// across calls (`WaveContext.checkInterval`). A fault leaves the wave's state undefined.
    mutating func resume(_ wave: WaveState, _ context: WaveContext, workgroup: UInt32) throws(ExecutionFault) -> WaveStop {
        let frames = wave.frames
        var depth = wave.depth
        let program = context.code.ops
        let firstLocal = wave.firstLocal
        var active = wave.active
        var pc = wave.pc
        var sinceCheck = self.sinceCheck
        // Instructions run by this call: `executedBase + sinceCheck` (one counter in the loop).
        var executedBase = -sinceCheck
        defer {
            wave.active = active
            wave.pc = pc
            wave.depth = depth
            self.sinceCheck = sinceCheck
            counters.instructions &+= UInt64(executedBase &+ sinceCheck)
        }

        // Registers as rows of 32 lanes through a local pointer the optimizer keeps in a register.
        let registers = wave.registers
        @inline(__always) func row(_ offset: Int32) -> UnsafeMutablePointer<UInt32> { registers + Int(offset) }
        @inline(__always) func float(_ row: UnsafeMutablePointer<UInt32>, _ lane: Int) -> Float { Float(bitPattern: row[lane]) }
        @inline(__always) func address(_ base: UInt64, _ offset: UInt32) -> UInt64 { base &+ UInt64(offset) }
        let workgroupSize = context.workgroupSize
        let firstGlobal = workgroup &* workgroupSize &+ firstLocal

        while true {
            sinceCheck &+= 1
            if sinceCheck >= WaveContext.checkInterval {
                // This instruction has not run yet: it counts only once the checks let it run.
                executedBase &+= sinceCheck &- 1
                sinceCheck = 0
                if let stop = context.shouldStop() { throw stop }
                if context.shouldYield() { return .yielded }
                executedBase &+= 1
            }
            let ins = program[pc]
            let imm = ins.immediate
            let d = row(ins.d), a = row(ins.a), b = row(ins.b)
            pc &+= 1
            switch ins.opcode {
            case .end:
                return .finished
            case .barrier:
                return .barrier
            case .movi: Self.lanes(active, d) { _ in imm }
            case .mov: Self.lanes(active, d) { a[$0] }
            case .arg, .argHigh:
                preconditionFailure("decoded as movi")
            case .gid: Self.ascending(active, d, from: firstGlobal)
            case .lid: Self.ascending(active, d, from: firstLocal)
            case .wgid: Self.lanes(active, d) { _ in workgroup }
            case .wgsize: Self.lanes(active, d) { _ in workgroupSize }
            case .lane: Self.ascending(active, d, from: 0)
            case .iadd: Self.lanes(active, d) { a[$0] &+ b[$0] }
            case .isub: Self.lanes(active, d) { a[$0] &- b[$0] }
            case .imul: Self.lanes(active, d) { a[$0] &* b[$0] }
            case .and: Self.lanes(active, d) { a[$0] & b[$0] }
            case .or: Self.lanes(active, d) { a[$0] | b[$0] }
            case .xor: Self.lanes(active, d) { a[$0] ^ b[$0] }
            case .shl: Self.lanes(active, d) { a[$0] << (b[$0] & 31) }
            case .shr: Self.lanes(active, d) { a[$0] >> (b[$0] & 31) }
            case .sar: Self.lanes(active, d) { UInt32(bitPattern: Int32(bitPattern: a[$0]) >> (b[$0] & 31)) }
            case .iaddi: Self.lanes(active, d) { a[$0] &+ imm }
            case .shli:
                let shift = imm & 31
                Self.lanes(active, d) { a[$0] << shift }
            case .shri:
                let shift = imm & 31
                Self.lanes(active, d) { a[$0] >> shift }
            case .andi: Self.lanes(active, d) { a[$0] & imm }
            case .umin: Self.lanes(active, d) { min(a[$0], b[$0]) }
            case .umax: Self.lanes(active, d) { max(a[$0], b[$0]) }
            case .udiv: Self.lanes(active, d) { let divisor = b[$0]; return divisor == 0 ? .max : a[$0] / divisor }
            case .fadd: Self.lanes(active, d) { (float(a, $0) + float(b, $0)).bitPattern }
            case .fsub: Self.lanes(active, d) { (float(a, $0) - float(b, $0)).bitPattern }
            case .fmul: Self.lanes(active, d) { (float(a, $0) * float(b, $0)).bitPattern }
            case .fdiv: Self.lanes(active, d) { (float(a, $0) / float(b, $0)).bitPattern }
            case .fmin: Self.lanes(active, d) { Float.minimum(float(a, $0), float(b, $0)).bitPattern }
            case .fmax: Self.lanes(active, d) { Float.maximum(float(a, $0), float(b, $0)).bitPattern }
            case .fma: Self.lanes(active, d) { float(d, $0).addingProduct(float(a, $0), float(b, $0)).bitPattern }
            case .itof: Self.lanes(active, d) { Float(Int32(bitPattern: a[$0])).bitPattern }
            case .utof: Self.lanes(active, d) { Float(a[$0]).bitPattern }
            case .ftoi: Self.lanes(active, d) { UInt32(bitPattern: Self.saturatingInt32(float(a, $0))) }
            case .ilt: Self.lanes(active, d) { Int32(bitPattern: a[$0]) < Int32(bitPattern: b[$0]) ? 1 : 0 }
            case .ult: Self.lanes(active, d) { a[$0] < b[$0] ? 1 : 0 }
            case .ieq: Self.lanes(active, d) { a[$0] == b[$0] ? 1 : 0 }
            case .ine: Self.lanes(active, d) { a[$0] != b[$0] ? 1 : 0 }
            case .flt: Self.lanes(active, d) { float(a, $0) < float(b, $0) ? 1 : 0 }
            case .feq: Self.lanes(active, d) { float(a, $0) == float(b, $0) ? 1 : 0 }
            case .ld:
                let base = ins.base   // argument a plus the immediate, resolved at decode
                counters.bytesRead &+= Self.bytes(active)
                if active == Self.allLanes, ins.unitStride ? Self.noWrap(b[0]) : Self.isUnitStride(b), base <= UInt64.max - UInt64(4 * Self.width) {
                    // One translation per page the wave's 128 bytes touch, not one per lane.
                    let start = address(base, b[0])
                    if Self.fitsInPage(start) {
                        Self.copyWave(from: try pointer(start, .read), to: UnsafeMutableRawPointer(d))
                    } else {
                        do throws(GpuFault) { try memory.read(start, 4 * Self.width, into: UnsafeMutableRawPointer(d), alignment: 4) } catch { throw .memory(error) }
                    }
                } else {
                    try forEachLane(active) { lane throws(ExecutionFault) in
                        d[lane] = try pointer(address(base, b[lane]), .read).load(as: UInt32.self)
                    }
                }
            case .st:
                let base = ins.base
                counters.bytesWritten &+= Self.bytes(active)
                if active == Self.allLanes, ins.unitStride ? Self.noWrap(b[0]) : Self.isUnitStride(b), base <= UInt64.max - UInt64(4 * Self.width) {
                    let start = address(base, b[0])
                    if Self.fitsInPage(start) {
                        Self.copyWave(from: UnsafeRawPointer(d), to: try pointer(start, .write))
                    } else {
                        do throws(GpuFault) { try memory.write(start, 4 * Self.width, from: UnsafeRawPointer(d), alignment: 4) } catch { throw .memory(error) }
                    }
                } else {
                    try forEachLane(active) { lane throws(ExecutionFault) in
                        try pointer(address(base, b[lane]), .write).storeBytes(of: d[lane], as: UInt32.self)
                    }
                }
            case .atomadd:
                let base = ins.base
                counters.bytesRead &+= Self.bytes(active)
                counters.bytesWritten &+= Self.bytes(active)
                try forEachLane(active) { lane throws(ExecutionFault) in
                    _ = try pointer(address(base, b[lane]), .read)
                    let target = try pointer(address(base, b[lane]), .write)
                    d[lane] = SharedAtomics.add(target, d[lane])
                }
            case .wsum:
                var sum: UInt32 = 0
                try forEachLane(active) { sum &+= a[$0] }
                Self.lanes(active, d) { _ in sum }
            case .wfsum:
                var sum: Float = 0
                try forEachLane(active) { sum += float(a, $0) }
                Self.lanes(active, d) { _ in sum.bitPattern }
            case .if:
                let taken = Self.nonzero(active, a)
                frames[depth] = WaveState.Frame(isLoop: false, saved: active, lanes: taken, next: Int(ins.partner), bodyStart: pc)
                depth &+= 1
                active = taken
            case .else:
                let top = depth - 1
                active = frames[top].saved & ~frames[top].lanes & ~Self.brokenLanes(frames, depth)
                frames[top].next = Int(ins.partner)
            case .endif:
                depth &-= 1
                active = frames[depth].saved & ~Self.brokenLanes(frames, depth)
            case .loop:
                frames[depth] = WaveState.Frame(isLoop: true, saved: active, lanes: 0, next: Int(ins.partner), bodyStart: pc)
                depth &+= 1
            case .break:
                let leaving = Self.nonzero(active, a)
                var loop = depth - 1
                while !frames[loop].isLoop { loop -= 1 }
                frames[loop].lanes |= leaving
                active &= ~leaving
            case .endloop:
                if active != 0 {
                    pc = frames[depth - 1].bodyStart
                } else {
                    depth &-= 1
                    active = frames[depth].saved & ~Self.brokenLanes(frames, depth)
                }
            }
            // With no lane left, skip to the instruction that closes the innermost frame.
            if active == 0, depth > 0 {
                pc = frames[depth - 1].next
            }
        }
    }

    @inline(__always) private mutating func pointer(_ address: UInt64, _ access: GpuAccess) throws(ExecutionFault) -> UnsafeMutableRawPointer {
        if address & 3 == 0, let hit = memory.cached(address, access) { return hit }
        return try translate(address, access)
    }

    /// The TLB's full path: misaligned accesses, misses and faults.
    @inline(never) private mutating func translate(_ address: UInt64, _ access: GpuAccess) throws(ExecutionFault) -> UnsafeMutableRawPointer {
        do { return try memory.pointer(address, access, alignment: 4) } catch { throw .memory(error) }
    }

    private static func saturatingInt32(_ value: Float) -> Int32 {
        if value.isNaN { return 0 }
        if value >= 2_147_483_648 { return .max }
        if value < -2_147_483_648 { return .min }
        return Int32(value)
    }
}
