import Glibc
import MagmaPlatform
import MagmaSystem

/// Executes one piece of work's commands against a connection's address space.
struct CommandProcessor {
    let space: AddressSpace
    let computeThreads: Int
    let watchdog: Watchdog
    private(set) var instructions: UInt64 = 0
    private var memory: TranslationCache

    init(space: AddressSpace, computeThreads: Int, watchdog: Watchdog) {
        self.space = space
        self.computeThreads = computeThreads
        self.watchdog = watchdog
        memory = TranslationCache(space)
    }

    /// Runs every command buffer of `payload` in order.
    mutating func run(_ payload: GpuWork.Payload) throws(ExecutionFault) {
        switch payload {
        case .commandBuffers(let resources, let entries, _):
            for entry in entries {
                let resource = resources[Int(entry.resourceIndex)]
                let start = resource.range.offset + entry.startOffset
                let bytes = UnsafeRawBufferPointer(start: resource.memory.base + Int(start),
                                                   count: Int(resource.range.length - entry.startOffset))
                try runStream(bytes)
            }
        case .inline(let data):
            var failure: ExecutionFault?
            data.withUnsafeBytes { bytes in
                do throws(ExecutionFault) { try runStream(bytes) } catch { failure = error }
            }
            if let failure { throw failure }
        }
    }

    private mutating func runStream(_ bytes: UnsafeRawBufferPointer) throws(ExecutionFault) {
        var reader = CommandReader(bytes)
        while let command = try reader.next() {
            if let stop = watchdog.check() { throw stop }
            switch command {
            case .end:
                return
            case let .fill(address, size, pattern):
                try fill(address: address, size: size, pattern: pattern)
            case let .copy(source, destination, size):
                try copy(from: source, to: destination, size: size)
            case let .timestamp(address):
                let pointer = try translate(address, .write, alignment: 8)
                pointer.storeBytes(of: Clock.monotonicNanoseconds().littleEndian, as: UInt64.self)
            case let .dispatch(programAddress, programSize, workgroupCount, workgroupSize, arguments):
                try dispatch(programAddress: programAddress, programSize: programSize, workgroupCount: workgroupCount,
                             workgroupSize: workgroupSize, arguments: arguments)
            }
        }
    }

    private mutating func translate(_ address: UInt64, _ access: GpuAccess, alignment: UInt64 = 1) throws(ExecutionFault) -> UnsafeMutableRawPointer {
        do { return try memory.pointer(address, access, alignment: alignment) } catch { throw .memory(error) }
    }

    /// Bytes from `address` to the end of its page, capped at `remaining`.
    private static func chunk(_ address: UInt64, _ remaining: UInt64) -> Int {
        Int(min(remaining, PageTable.pageSize - (address & (PageTable.pageSize - 1))))
    }

    private static func end(_ address: UInt64, _ size: UInt64) throws(ExecutionFault) {
        guard !address.addingReportingOverflow(size).overflow else { throw .illegal("range at 0x\(String(address, radix: 16)) wraps") }
    }

    private mutating func fill(address: UInt64, size: UInt64, pattern: UInt32) throws(ExecutionFault) {
        guard address % 4 == 0, size % 4 == 0 else { throw .illegal("fill must be 4-byte aligned") }
        try Self.end(address, size)
        var done: UInt64 = 0
        while done < size {
            let at = address + done
            let count = Self.chunk(at, size - done)
            let pointer = try translate(at, .write)
            pointer.withMemoryRebound(to: UInt32.self, capacity: count / 4) { $0.update(repeating: pattern.littleEndian, count: count / 4) }
            done += UInt64(count)
            if done & 0xF_FFFF == 0, let stop = watchdog.check() { throw stop }
        }
    }

    private mutating func copy(from source: UInt64, to destination: UInt64, size: UInt64) throws(ExecutionFault) {
        try Self.end(source, size)
        try Self.end(destination, size)
        var done: UInt64 = 0
        while done < size {
            let from = source + done, to = destination + done
            let count = min(Self.chunk(from, size - done), Self.chunk(to, size - done))
            let input = try translate(from, .read)
            let output = try translate(to, .write)
            memmove(output, input, count)
            done += UInt64(count)
            if done & 0xF_FFFF == 0, let stop = watchdog.check() { throw stop }
        }
    }

    private mutating func dispatch(programAddress: UInt64, programSize: UInt32, workgroupCount: UInt32,
                                   workgroupSize: UInt32, arguments: [UInt64]) throws(ExecutionFault) {
        guard workgroupSize >= 1, workgroupSize <= UInt32(ISALimits.maxWorkgroupSize) else {
            throw .illegal("workgroup size \(workgroupSize) outside 1...\(ISALimits.maxWorkgroupSize)")
        }
        guard programSize > 0, Int(programSize) <= ISALimits.maxProgramInstructions * Instruction.size else {
            throw .illegal("program size \(programSize)")
        }
        try Self.end(programAddress, UInt64(programSize))
        // Fetch the program through the MMU with execute permission, page by page.
        var code = [UInt8](repeating: 0, count: Int(programSize))
        var fetched = 0
        while fetched < code.count {
            let at = programAddress + UInt64(fetched)
            let count = Self.chunk(at, UInt64(code.count - fetched))
            let pointer = try translate(at, .execute)
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
        let request = DispatchRunner.Request(program: program, workgroupCount: workgroupCount,
                                             workgroupSize: workgroupSize, arguments: padded)
        instructions += try DispatchRunner.run(request, in: space, threads: computeThreads, watchdog: watchdog)
    }
}
