import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol
import SoftGPU
import Testing

/// GPU work that never ends on its own, as a hostile client would submit it.
enum RunawayWork: CustomStringConvertible, CaseIterable, Sendable {
    /// `loop; barrier; endloop; end` in one workgroup of one wave.
    case barrierLoop
    /// The same in one workgroup of 32 waves.
    case wideBarrierLoop
    /// 2^32-1 workgroups of a one-instruction program.
    case endlessShortWaves

    var description: String {
        switch self {
        case .barrierLoop: "a barrier in an endless loop"
        case .wideBarrierLoop: "a barrier in an endless loop, 32 waves"
        case .endlessShortWaves: "2^32-1 workgroups of short waves"
        }
    }

    /// Submits the work on the session's context.
    func submit(on session: GPUSession) throws {
        let (source, workgroups, size): (String, UInt32, UInt32) = switch self {
        case .barrierLoop: (Kernels.barrierLoop, 1, 1)
        case .wideBarrierLoop: (Kernels.barrierLoop, 1, 1024)
        case .endlessShortWaves: ("end", .max, 1)
        }
        let program = try session.loadProgram(source)
        var stream = CommandStream()
        stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: workgroups, workgroupSize: size, arguments: [])
        try session.submit(stream)
    }
}

extension GPUSession {
    /// Fills a new page with `pattern` on the GPU, waiting at most `timeoutNanoseconds` (a
    /// timeout throws); returns whether it reads back as the pattern.
    func verifiedFill(pattern: UInt32, timeoutNanoseconds: UInt64 = 10_000_000_000) throws -> Bool {
        let (target, address) = try mappedBuffer(size: 4096)
        var stream = CommandStream()
        stream.fill(address: address, size: 4096, pattern: pattern)
        let done = try connection.createSemaphore()
        let commands = try submit(stream, signals: [done])
        try waitFor(done, timeoutNanoseconds: timeoutNanoseconds)
        try connection.release(done)
        try connection.release(commands)
        defer { try? connection.release(target) }
        return try target.u32s(1024).allSatisfy { $0 == pattern }
    }
}

extension Device {
    /// Nanoseconds the GPU has been busy, including the work running now.
    func busyNanoseconds() throws -> UInt64 { try totalTime().gpuTimeNanoseconds }

    /// Waits until the GPU's busy time stops advancing (two samples 200 ms apart agree), at
    /// most `timeoutNanoseconds`; returns the busy time then, or nil if it kept advancing.
    func busyTimeOnceIdle(timeoutNanoseconds: UInt64 = 20_000_000_000) throws -> UInt64? {
        let deadline = Clock.monotonicNanoseconds() + timeoutNanoseconds
        var previous = try busyNanoseconds()
        while Clock.monotonicNanoseconds() < deadline {
            usleep(200_000)
            let current = try busyNanoseconds()
            if current == previous { return current }
            previous = current
        }
        return nil
    }

    /// Waits until the GPU's busy time advances: work is running.
    func awaitBusy(timeoutNanoseconds: UInt64 = 10_000_000_000) throws -> Bool {
        let start = try busyNanoseconds()
        let deadline = Clock.monotonicNanoseconds() + timeoutNanoseconds
        while Clock.monotonicNanoseconds() < deadline {
            usleep(10_000)
            if try busyNanoseconds() > start { return true }
        }
        return false
    }
}

/// A backlog of spinning work on many contexts of one connection, and a bystander connection
/// that alone can end it (it fills the flag the backlog spins on, in a buffer both import).
/// Reports how many backlog jobs had started once the device held the bystander's submission
/// (read after a `flush`, so at least as many as when it arrived: a slow round trip only
/// overstates it) and when the bystander's job ran: a fair scheduler lets the bystander in
/// after a bounded number of the backlog's turns, however many contexts the backlog uses.
struct BacklogScenario {
    /// Counts its start (atomically, in the u32 at a1), then spins until the u32 at a0 is
    /// non-zero.
    static let countThenSpin = """
        movi r0, 0
        movi r1, 1
        atomadd r1, a1, r0, 0
        loop
          ld r2, a0, r0, 0
          break r2
        endloop
        end
        """

    let contexts: Int
    let jobsPerContext: Int

    /// Backlog jobs that had started once the bystander's submission was queued, and when its
    /// job ran.
    struct Outcome {
        let startedWhenQueued: UInt32
        let startedBeforeBystander: UInt32
        let total: Int

        /// Backlog jobs that started while the bystander's job waited its turn (none if the
        /// bystander ran before the flush returned).
        var startedWhileQueued: UInt32 { startedBeforeBystander - min(startedWhenQueued, startedBeforeBystander) }
    }

    func run(attacker: GPUSession, bystander: GPUSession) throws -> Outcome {
        let (shared, sharedAddress) = try attacker.mappedBuffer(size: 4096)   // flag at 0, start count at 4
        let imported = try bystander.connection.importBuffer(try shared.export())
        let importedAddress = bystander.reserveAddress(imported.size)
        try bystander.connection.map(imported, at: importedAddress, flags: [.read, .write])
        let (snapshot, snapshotAddress) = try bystander.mappedBuffer(size: 4096)
        var release = CommandStream()
        release.copy(from: importedAddress + 4, to: snapshotAddress, size: 4)
        release.fill(address: importedAddress, size: 4, pattern: 1)
        let released = try bystander.connection.createSemaphore()

        let program = try attacker.loadProgram(Self.countThenSpin)
        var spin = CommandStream()
        spin.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: 1, workgroupSize: 1,
                      arguments: [sharedAddress, sharedAddress + 4])
        let queues = [attacker.context] + (try (1..<contexts).map { _ in try attacker.connection.createContext() })
        var finished: [Magma.Semaphore] = []
        for _ in 0..<jobsPerContext {
            for queue in queues {
                let done = try attacker.connection.createSemaphore()
                try attacker.submit(spin, signals: [done], on: queue)
                finished.append(done)
            }
        }
        guard eventually({ (try? shared.u32(at: 4)) ?? 0 >= 1 }) else { throw MagmaError(.timedOut, "the backlog never started") }
        try bystander.submit(release, signals: [released])
        // The bystander's submission crossed to the device (over a socket, or a loaded host's
        // scheduler) before this count: the backlog's turns during that trip are not the
        // scheduler's doing.
        try bystander.connection.flush()
        let whenQueued = try shared.u32(at: 4)
        try bystander.waitFor(released, timeoutNanoseconds: 20_000_000_000)
        for done in finished { try attacker.waitFor(done, timeoutNanoseconds: 20_000_000_000) }
        #expect(try shared.u32(at: 4) == UInt32(finished.count), "every backlog job ran once")
        return Outcome(startedWhenQueued: whenQueued, startedBeforeBystander: try snapshot.u32(at: 0), total: finished.count)
    }
}
