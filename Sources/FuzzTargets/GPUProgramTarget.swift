import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import SoftGPU

/// One input of the GPU-program fuzz target: a program, the dispatch that runs it, raw commands
/// after the dispatch, and what the client does meanwhile.
///
/// Encoding: `u32 workgroupCount, u16 workgroupSize, u8 flags, u8 n` (little endian), then `8n`
/// bytes of program (fewer if the input ends first), then raw commands (docs/softgpu.md) that
/// run after the dispatch. The program is mapped read+execute at `programAddress`; 64 KiB of data
/// read+write at `dataAddress`, passed as `a0` (with its size as `a1` and the workgroup count as
/// `a2`).
public struct GPUProgramCase: Sendable {
    /// What the client does after submitting.
    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Closes the connection right after submitting, without waiting.
        public static let closeEarly = Flags(rawValue: 1)
        /// Submits the same work on a second context too.
        public static let twoContexts = Flags(rawValue: 2)
        /// Destroys the context right after submitting, without waiting.
        public static let destroyEarly = Flags(rawValue: 4)
    }

    /// Where the program is mapped.
    public static let programAddress: UInt64 = 0x10000
    /// Where the data buffer is mapped.
    public static let dataAddress: UInt64 = 0x100000
    /// Size of the data buffer.
    public static let dataSize = 64 * 1024
    static let headerSize = 8

    public var workgroupCount: UInt32
    public var workgroupSize: UInt16
    public var flags: Flags
    /// Program bytes, at most 255 instructions.
    public var program: [UInt8]
    /// Raw commands run after the dispatch.
    public var commands: [UInt8]

    /// A case from its parts.
    public init(workgroupCount: UInt32, workgroupSize: UInt16, flags: Flags = [], program: [UInt8], commands: [UInt8] = []) {
        self.workgroupCount = workgroupCount
        self.workgroupSize = workgroupSize
        self.flags = flags
        self.program = Array(program.prefix(255 * 8))
        self.commands = commands
    }

    /// Decodes an input; nil if it is shorter than the header.
    public init?(bytes: [UInt8]) {
        guard bytes.count >= Self.headerSize else { return nil }
        workgroupCount = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        workgroupSize = UInt16(bytes[4]) | UInt16(bytes[5]) << 8
        flags = Flags(rawValue: bytes[6])
        let programEnd = min(bytes.count, Self.headerSize + Int(bytes[7]) * 8)
        program = Array(bytes[Self.headerSize..<programEnd])
        commands = Array(bytes[programEnd...])
    }

    /// The encoded input.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        withUnsafeBytes(of: workgroupCount.littleEndian) { out += $0 }
        withUnsafeBytes(of: workgroupSize.littleEndian) { out += $0 }
        out += [flags.rawValue, UInt8((program.count + 7) / 8)]
        return out + program + commands
    }

    /// The command buffer: the dispatch, the raw commands, an `end`.
    var commandBuffer: [UInt8] {
        var stream = CommandStream()
        stream.dispatch(programAddress: Self.programAddress, programSize: UInt32(program.count), workgroupCount: workgroupCount,
                        workgroupSize: UInt32(workgroupSize),
                        arguments: [Self.dataAddress, UInt64(Self.dataSize), UInt64(workgroupCount)])
        return stream.bytes + commands + [0, 0, 0, 0, 8, 0, 0, 0]
    }
}

/// The GPU-program and command-stream fuzz target, with a "no runaway" oracle: every input's
/// work completes, faults or is stopped by the watchdog, and the GPU is idle again once the
/// connection is closed, all within `limitNanoseconds`; otherwise it traps. Each input runs on
/// a fresh untrusted connection of a SoftGPU device with a 100 ms watchdog; an input whose
/// client leaves early (closes the connection or destroys the context) runs on a device whose
/// watchdog is far longer than the limit, so only the client's leaving can stop its work in
/// time.
public enum GPUProgramTarget {
    /// The fuzzed device's watchdog.
    public static let watchdogNanoseconds: UInt64 = 100_000_000
    /// How long an input may take: the watchdog, plus a margin for a loaded machine and
    /// sanitizer builds.
    public static let limitNanoseconds: UInt64 = watchdogNanoseconds + 5_000_000_000

    private final class Sink: NotificationSink {
        let closed = Locked(false)
        func deliver(_ message: [UInt8]) {}
        func connectionClosed(_ error: MagmaError) { closed.withLock { $0 = true } }
    }

    private static let device = makeDevice(watchdogNanoseconds: watchdogNanoseconds)
    private static let lingeringDevice = makeDevice(watchdogNanoseconds: 600_000_000_000)
    private static let limits = ConnectionLimits(maxObjects: 64, maxImportedBytes: 1 << 24)

    public static func run(_ input: [UInt8]) {
        guard let fuzzCase = GPUProgramCase(bytes: input) else { return }
        let deadline = Clock.monotonicNanoseconds() + limitNanoseconds
        let leavesEarly = !fuzzCase.flags.isDisjoint(with: [.closeEarly, .destroyEarly])
        let device = leavesEarly ? lingeringDevice : device
        let sink = Sink()
        let idleBusy = busyNanoseconds(device)
        guard let connection = try? device.openConnection(trust: .untrusted, limits: limits, sink: sink),
              let done = try? submit(fuzzCase, on: connection) else { return }
        // Wait for the work to end; a client that leaves early waits only for it to start.
        while !(sink.closed.withLock { $0 } || done.allSatisfy(\.isSignaled) || leavesEarly && hasRun(device, since: idleBusy)) {
            guard Clock.monotonicNanoseconds() < deadline else { fatalError("runaway: work neither finished nor was stopped in time: \(input)") }
            usleep(200)
        }
        if fuzzCase.flags.contains(.destroyEarly) {
            for context in done.indices { connection.destroyContext(id: UInt32(context + 1)) }
            guard awaitIdle(device, until: deadline) else { fatalError("runaway: GPU work went on after its context was destroyed: \(input)") }
        }
        connection.close()
        guard awaitIdle(device, until: deadline) else { fatalError("runaway: GPU work went on after its connection closed: \(input)") }
    }

    /// Whether the device's busy time has passed `idle` (work has run since).
    private static func hasRun(_ device: SystemDevice, since idle: UInt64?) -> Bool {
        guard let idle, let now = busyNanoseconds(device) else { return false }
        return now > idle
    }

    /// A SoftGPU device with `watchdogNanoseconds` and two compute threads.
    private static func makeDevice(watchdogNanoseconds: UInt64) -> SystemDevice {
        try! SystemDevice(driver: SoftGPUDriver(configuration: SoftGPUConfiguration(watchdogNanoseconds: watchdogNanoseconds, computeThreads: 2)))
    }

    /// Maps the program and data, creates the contexts and submits the work; returns the
    /// semaphores each submission signals.
    private static func submit(_ fuzzCase: GPUProgramCase, on connection: SystemConnection) throws -> [EventSemaphore] {
        let program = try SharedMemory.create(size: 4096)
        program.base.copyMemory(from: fuzzCase.program, byteCount: fuzzCase.program.count)
        let data = try SharedMemory.create(size: GPUProgramCase.dataSize)
        let bytes = fuzzCase.commandBuffer
        let commands = try SharedMemory.create(size: Int(SharedMemory.pageAligned(UInt64(bytes.count))!))
        commands.base.copyMemory(from: bytes, byteCount: bytes.count)
        connection.importBuffer(id: 1, memory: program)
        connection.importBuffer(id: 2, memory: data)
        connection.importBuffer(id: 3, memory: commands)
        connection.mapBuffer(gpuAddress: GPUProgramCase.programAddress, bufferId: 1, offset: 0, length: 4096, flags: [.read, .execute])
        connection.mapBuffer(gpuAddress: GPUProgramCase.dataAddress, bufferId: 2, offset: 0, length: UInt64(GPUProgramCase.dataSize),
                             flags: [.read, .write])
        let contexts = fuzzCase.flags.contains(.twoContexts) ? 2 : 1
        return try (0..<contexts).map { index in
            let id = UInt32(index + 1), semaphore = ObjectId(10 + index)
            let done = try EventSemaphore()
            connection.importSemaphore(id: semaphore, event: done, flags: [])
            connection.createContext(id: id, priority: .medium)
            connection.executeCommand(contextId: id, descriptor: CommandDescriptor(
                resources: [BufferRange(bufferId: 3, offset: 0, length: UInt64(commands.size)),
                            BufferRange(bufferId: 2, offset: 0, length: UInt64(GPUProgramCase.dataSize))],
                commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], signalSemaphores: [semaphore]))
            return done
        }
    }

    /// Waits until the GPU's busy time stops advancing (no work runs); false at the deadline.
    private static func awaitIdle(_ device: SystemDevice, until deadline: UInt64) -> Bool {
        var previous = busyNanoseconds(device)
        while Clock.monotonicNanoseconds() < deadline {
            usleep(1000)
            let current = busyNanoseconds(device)
            if let current, current == previous { return true }
            previous = current
        }
        return false
    }

    /// The device's busy time (including the work running now); nil if the query failed.
    private static func busyNanoseconds(_ device: SystemDevice) -> UInt64? {
        guard case .buffer(let memory)? = try? device.query(.totalTime) else { return nil }
        return UInt64(littleEndian: memory.base.load(as: UInt64.self))
    }
}
