import Glibc
import MagmaPlatform
import MagmaSystem

/// One piece of work in progress: where its command streams stand, so the engine can stop it at
/// a command, chunk or instruction boundary and resume it later. A value the engine's job holds
/// (no object of its own per submission).
struct WorkExecution {
    /// A command stopped part-way.
    private enum Partial {
        case fill(address: UInt64, size: UInt64, pattern: UInt32, done: UInt64)
        case copy(source: UInt64, destination: UInt64, size: UInt64, done: UInt64)
        case dispatch(DispatchExecution)
    }

    /// Bytes a fill or copy moves between two checks for preemption.
    static let chunkBetweenChecks: UInt64 = 64 * 1024

    /// The longest command stream a GPU-address submission may name: it is fetched whole,
    /// through the MMU, before its first command runs.
    static let maxStreamBytes: UInt64 = 4 << 20

    private let payload: GpuWork.Payload
    /// False on a transfer-only queue: a dispatch is an illegal command there.
    private let runsDispatches: Bool
    private var entry = 0
    private var offset = 0
    private var partial: Partial?
    /// A GPU-address submission's stream, once fetched.
    private var fetchedStream: [UInt8]?

    init(_ payload: GpuWork.Payload, runsDispatches: Bool = true) {
        self.payload = payload
        self.runsDispatches = runsDispatches
    }

    /// Everything one slice needs.
    struct Slice {
        let space: AddressSpace
        let computeThreads: Int
        let watchdog: Watchdog
        let shouldYield: @Sendable () -> Bool
        /// The commands' translation cache (timestamps, program fetches), made on the slice's
        /// first translation: work with none (an inline end-of-stream; fills and copies, which
        /// translate whole extents without it) makes none.
        private var memory: TranslationCache?
        var counters = ExecutionCounters()

        init(space: AddressSpace, computeThreads: Int, watchdog: Watchdog, shouldYield: @escaping @Sendable () -> Bool) {
            self.space = space
            self.computeThreads = computeThreads
            self.watchdog = watchdog
            self.shouldYield = shouldYield
        }

        /// The host address of `address` for `access`, through the slice's translation cache.
        mutating func pointer(_ address: UInt64, _ access: GpuAccess, alignment: UInt64) throws(GpuFault) -> UnsafeMutableRawPointer {
            if memory == nil { memory = TranslationCache(space) }
            return try memory!.pointer(address, access, alignment: alignment)
        }
    }

    /// Runs until the work is done (true) or the slice should yield (false).
    mutating func run(_ slice: inout Slice) throws(ExecutionFault) -> Bool {
        switch payload {
        case .commandBuffers(let resources, let entries, _):
            while entry < entries.count {
                let command = entries[entry]
                let resource = resources[Int(command.resourceIndex)]
                let start = resource.range.offset + command.startOffset
                let bytes = UnsafeRawBufferPointer(start: SoftGPUBuffer.of(resource.buffer).memory.base + Int(start),
                                                   count: Int(resource.range.length - command.startOffset))
                guard try runStream(bytes, &slice) else { return false }
            }
            return true
        case .inline(let commands):
            while entry < commands.count {
                let outcome: Result<Bool, ExecutionFault> = commands[entry].data.withUnsafeBytes { bytes in
                    do throws(ExecutionFault) { return .success(try runStream(bytes, &slice)) } catch { return .failure(error) }
                }
                guard try outcome.get() else { return false }
            }
            return true
        case .commandStream(let address, let length, _):
            guard entry == 0 else { return true }
            let stream: [UInt8]
            if let fetchedStream { stream = fetchedStream } else { stream = try Self.fetchStream(at: address, length: length, &slice) }
            fetchedStream = stream
            let outcome: Result<Bool, ExecutionFault> = stream.withUnsafeBytes { bytes in
                do throws(ExecutionFault) { return .success(try runStream(bytes, &slice)) } catch { return .failure(error) }
            }
            return try outcome.get()
        case .bind:
            // Bind work changes page tables and runs no commands: `Engine.applyBind` runs it.
            throw .illegal("bind work reached the command processor")
        }
    }

    /// Reads a GPU-address submission's command stream through the MMU with read permission,
    /// page by page: a page not mapped readable is a memory fault.
    private static func fetchStream(at address: UInt64, length: UInt64, _ slice: inout Slice) throws(ExecutionFault) -> [UInt8] {
        guard length <= Self.maxStreamBytes else { throw .illegal("command stream of \(length) bytes; \(Self.maxStreamBytes) is the most") }
        try Self.checkEnd(address, length)
        var stream = [UInt8](repeating: 0, count: Int(length))
        var fetched = 0
        while fetched < stream.count {
            let at = address + UInt64(fetched)
            let count = Self.chunk(at, UInt64(stream.count - fetched))
            let pointer = try Self.translate(at, .read, &slice)
            stream.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: fetched).copyMemory(from: pointer, byteCount: count) }
            fetched += count
        }
        slice.counters.bytesRead &+= length
        return stream
    }

    /// Runs the current stream from where it stopped. Returns false to yield.
    private mutating func runStream(_ bytes: UnsafeRawBufferPointer, _ slice: inout Slice) throws(ExecutionFault) -> Bool {
        var reader = CommandReader(bytes, offset: offset)
        while true {
            if let partial {
                guard try resume(partial, &slice) else { return false }
                self.partial = nil
            }
            if let stop = slice.watchdog.check() { throw stop }
            if slice.shouldYield() { return false }
            guard let command = try reader.next() else { break }
            offset = reader.offset
            switch command {
            case .end:
                break
            case let .fill(address, size, pattern):
                guard address % 4 == 0, size % 4 == 0 else { throw .illegal("fill must be 4-byte aligned") }
                try Self.checkEnd(address, size)
                partial = .fill(address: address, size: size, pattern: pattern, done: 0)
                continue
            case let .copy(source, destination, size):
                try Self.checkEnd(source, size)
                try Self.checkEnd(destination, size)
                partial = .copy(source: source, destination: destination, size: size, done: 0)
                continue
            case let .timestamp(address):
                let pointer = try Self.translate(address, .write, alignment: 8, &slice)
                pointer.storeBytes(of: Clock.monotonicNanoseconds().littleEndian, as: UInt64.self)
                slice.counters.bytesWritten &+= 8
                continue
            case let .dispatch(programAddress, programSize, workgroupCount, workgroupSize, arguments):
                guard runsDispatches else { throw .illegal("dispatch on a transfer-only queue: it runs fills, copies and timestamps") }
                partial = .dispatch(try Self.prepareDispatch(programAddress: programAddress, programSize: programSize, workgroupCount: workgroupCount,
                                                        workgroupSize: workgroupSize, arguments: arguments, &slice))
                continue
            }
            break  // end
        }
        entry += 1
        offset = 0
        return true
    }

    /// Continues a command stopped part-way. Returns false to yield (progress kept).
    private mutating func resume(_ command: Partial, _ slice: inout Slice) throws(ExecutionFault) -> Bool {
        switch command {
        case let .fill(address, size, pattern, done):
            return try chunks(from: done, to: size, &slice, resumeAt: { .fill(address: address, size: size, pattern: pattern, done: $0) }) {
                (done, limit, slice) throws(ExecutionFault) in
                let (pointer, count, entry) = try Self.extent(address + done, limit, .write, &slice)
                withExtendedLifetime(entry) {
                    pointer.withMemoryRebound(to: UInt32.self, capacity: count / 4) { $0.update(repeating: pattern.littleEndian, count: count / 4) }
                }
                slice.counters.bytesWritten &+= UInt64(count)
                return count
            }
        case let .copy(source, destination, size, done):
            return try chunks(from: done, to: size, &slice, resumeAt: { .copy(source: source, destination: destination, size: size, done: $0) }) {
                (done, limit, slice) throws(ExecutionFault) in
                let (input, readable, inputEntry) = try Self.extent(source + done, limit, .read, &slice)
                let (output, writable, outputEntry) = try Self.extent(destination + done, readable, .write, &slice)
                let count = min(readable, writable)
                withExtendedLifetime((inputEntry, outputEntry)) { _ = memmove(output, input, count) }
                slice.counters.bytesRead &+= UInt64(count)
                slice.counters.bytesWritten &+= UInt64(count)
                return count
            }
        case let .dispatch(execution):
            slice.counters += try execution.run(in: slice.space, threads: slice.computeThreads, watchdog: slice.watchdog,
                                                shouldYield: slice.shouldYield)
            guard execution.isFinished else {
                partial = .dispatch(execution)
                return false
            }
        }
        return true
    }

    /// Runs `step` (which moves up to `limit` bytes from byte `done`, at least one page's worth
    /// or what is left, and returns how many it moved) until `size` bytes are done. Every 64 KiB
    /// it checks the watchdog and whether to yield; to yield it keeps the progress as
    /// `resumeAt(done)` and returns false.
    private mutating func chunks(from done: UInt64, to size: UInt64, _ slice: inout Slice, resumeAt: (UInt64) -> Partial,
                        _ step: (UInt64, Int, inout Slice) throws(ExecutionFault) -> Int) throws(ExecutionFault) -> Bool {
        var done = done
        var sinceCheck: UInt64 = 0
        while done < size {
            let limit = Int(min(size - done, Self.chunkBetweenChecks - sinceCheck))
            let count = UInt64(try step(done, limit, &slice))
            done += count
            sinceCheck += count
            if sinceCheck >= Self.chunkBetweenChecks, done < size {
                sinceCheck = 0
                if let stop = slice.watchdog.check() { throw stop }
                if slice.shouldYield() {
                    partial = resumeAt(done)
                    return false
                }
            }
        }
        return true
    }

    /// The host address of GPU `address` and how many of the `limit` bytes from it are contiguous
    /// there (at least the rest of its page), with the entry that keeps that memory alive.
    private static func extent(_ address: UInt64, _ limit: Int, _ access: GpuAccess, _ slice: inout Slice) throws(ExecutionFault) -> (UnsafeMutableRawPointer, Int, PageEntry) {
        do { return try slice.space.translateExtent(address, limit, access) } catch { throw .memory(error) }
    }

    private static func translate(_ address: UInt64, _ access: GpuAccess, alignment: UInt64 = 1, _ slice: inout Slice) throws(ExecutionFault) -> UnsafeMutableRawPointer {
        do { return try slice.pointer(address, access, alignment: alignment) } catch { throw .memory(error) }
    }

    /// Bytes from `address` to the end of its page, capped at `remaining`.
    private static func chunk(_ address: UInt64, _ remaining: UInt64) -> Int {
        Int(min(remaining, PageEntry.pageSize - (address & (PageEntry.pageSize - 1))))
    }

    private static func checkEnd(_ address: UInt64, _ size: UInt64) throws(ExecutionFault) {
        guard !address.addingReportingOverflow(size).overflow else { throw .illegal("range at 0x\(String(address, radix: 16)) wraps") }
    }

    private static func prepareDispatch(programAddress: UInt64, programSize: UInt32, workgroupCount: UInt32, workgroupSize: UInt32,
                                 arguments: [UInt64], _ slice: inout Slice) throws(ExecutionFault) -> DispatchExecution {
        guard workgroupSize >= 1, workgroupSize <= UInt32(ISALimits.maxWorkgroupSize) else {
            throw .illegal("workgroup size \(workgroupSize) outside 1...\(ISALimits.maxWorkgroupSize)")
        }
        guard programSize > 0, Int(programSize) <= ISALimits.maxProgramInstructions * Instruction.size else {
            throw .illegal("program size \(programSize)")
        }
        try Self.checkEnd(programAddress, UInt64(programSize))
        // Fetch the program through the MMU with execute permission, page by page.
        var code = [UInt8](repeating: 0, count: Int(programSize))
        var fetched = 0
        while fetched < code.count {
            let at = programAddress + UInt64(fetched)
            let count = Self.chunk(at, UInt64(code.count - fetched))
            let pointer = try Self.translate(at, .execute, &slice)
            code.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: fetched).copyMemory(from: pointer, byteCount: count) }
            fetched += count
        }
        let decoded: Result<Program, ProgramError> = code.withUnsafeBytes { bytes in
            do throws(ProgramError) { return .success(try Program(bytes: bytes)) } catch { return .failure(error) }
        }
        let program: Program
        switch decoded {
        case .success(let valid): program = valid
        case .failure(let error): throw .illegal("program at 0x\(String(programAddress, radix: 16)): \(error)")
        }
        var padded = arguments
        padded += repeatElement(0, count: ISALimits.argumentCount - arguments.count)
        return DispatchExecution(DispatchExecution.Request(program: program, workgroupCount: workgroupCount,
                                                           workgroupSize: workgroupSize, arguments: padded))
    }
}
