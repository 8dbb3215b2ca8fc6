/// Ready-made SoftGPU programs, in assembly, for demos, tests and examples.
public enum Kernels {
    /// `out[i] = x[i] + y[i]` over f32 for `i < count`.
    /// Arguments: a0 = x, a1 = y, a2 = out (GPU addresses), a3 = count.
    public static let vectorAddF32 = """
        gid r0
        arg r1, 3
        ult r2, r0, r1          ; in range?
        if r2
          shli r3, r0, 2        ; byte offset
          ld r4, a0, r3, 0
          ld r5, a1, r3, 0
          fadd r6, r4, r5
          st r6, a2, r3, 0
        endif
        end
        """

    /// Adds every u32 of `input[0 ..< count]` into the u32 at `total` (wrapping): each wave sums
    /// its lanes, then lane 0 adds the wave's sum atomically.
    /// Arguments: a0 = input, a1 = total (GPU addresses), a2 = count.
    public static let sumU32 = """
        gid r0
        arg r1, 2
        movi r4, 0
        ult r2, r0, r1
        if r2
          shli r3, r0, 2
          ld r4, a0, r3, 0
        endif
        wsum r5, r4             ; sum over the wave
        lane r6
        movi r7, 0
        ieq r8, r6, r7
        if r8
          atomadd r5, a1, r7, 0
        endif
        end
        """

    /// Spins until the u32 at `flag` becomes non-zero: holds the engine for as long as the CPU
    /// wants. Arguments: a0 = flag (GPU address).
    public static let spinUntilFlag = """
        movi r0, 0
        loop
          ld r1, a0, r0, 0
          break r1
        endloop
        end
        """

    /// Never ends: for watchdog tests. No arguments.
    public static let infiniteLoop = """
        movi r0, 0
        loop
          iaddi r0, r0, 1
        endloop
        end
        """

    /// Never ends, and every wave reaches a barrier every two instructions: for watchdog and
    /// preemption tests. No arguments.
    public static let barrierLoop = """
        loop
          barrier
        endloop
        end
        """
}
