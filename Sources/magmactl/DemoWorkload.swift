import Magma
import MagmaPlatform
import MagmaProtocol
import SoftGPU

/// The demo's GPU work: z = x + y by a compute dispatch, then a copy of z, in submissions of at
/// most `elementsPerSubmission` elements each.
struct DemoWorkload {
    static let workgroupSize: UInt32 = 256
    /// SoftGPU's watchdog (2 s) bounds each submission, not the demo: a submission of 2^20
    /// elements runs in about a tenth of a second on one core, so even the largest demo
    /// (2^24 elements, 16 submissions) stays far from the watchdog on a busy 2-core machine.
    static let elementsPerSubmission = 1 << 20
    // GPU virtual addresses chosen by the client, as Magma expects.
    static let programAddress: UInt64 = 0x0010_0000
    static let xAddress: UInt64 = 0x1000_0000
    static let yAddress: UInt64 = 0x2000_0000
    static let zAddress: UInt64 = 0x3000_0000
    static let copyAddress: UInt64 = 0x4000_0000

    struct Result {
        var submissions: Int
        var dispatchWorkgroups: UInt32
        var copiedBytes: Int
        var bytesMoved: Int
        /// Engine-busy time from the completion notifications; nil through Mesa's API, which
        /// has no notifications.
        var gpuNanoseconds: UInt64?
        var wallNanoseconds: UInt64
        var mismatches: Int
    }

    let device: Device
    let elements: Int

    func run() throws -> Result {
        let connection = try device.createConnection()
        defer { connection.release() }
        let context = try connection.createContext()
        let bytes = UInt64(elements * 4)

        let program = try Assembler.assembleBytes(Kernels.vectorAddF32)
        let code = try connection.createBuffer(size: UInt64(program.count), name: "vector-add")
        try code.bytes.copyMemory(from: program.withUnsafeBytes { $0 })
        let x = try connection.createBuffer(size: bytes, name: "x")
        let y = try connection.createBuffer(size: bytes, name: "y")
        let z = try connection.createBuffer(size: bytes, name: "z")
        let copy = try connection.createBuffer(size: bytes, name: "copy")
        let xs = try x.contents.bindMemory(to: Float.self, capacity: elements)
        let ys = try y.contents.bindMemory(to: Float.self, capacity: elements)
        for i in 0..<elements {
            xs[i] = Float(i)
            ys[i] = Float(2 * i)
        }

        try connection.map(code, at: Self.programAddress, flags: [.read, .execute])
        try connection.map(x, at: Self.xAddress, flags: .read)
        try connection.map(y, at: Self.yAddress, flags: .read)
        try connection.map(z, at: Self.zAddress, flags: [.read, .write])
        try connection.map(copy, at: Self.copyAddress, flags: .write)

        // One command stream per submission, back to back in one buffer.
        var streams = CommandStream()
        var starts: [UInt64] = []
        var workgroups: UInt32 = 0
        for first in stride(from: 0, to: elements, by: Self.elementsPerSubmission) {
            let count = min(Self.elementsPerSubmission, elements - first)
            let offset = UInt64(first * 4)
            let chunkWorkgroups = UInt32((count + Int(Self.workgroupSize) - 1) / Int(Self.workgroupSize))
            starts.append(UInt64(streams.bytes.count))
            streams.dispatch(programAddress: Self.programAddress, programSize: UInt32(program.count), workgroupCount: chunkWorkgroups,
                             workgroupSize: Self.workgroupSize,
                             arguments: [Self.xAddress + offset, Self.yAddress + offset, Self.zAddress + offset, UInt64(count)])
            streams.copy(from: Self.zAddress + offset, to: Self.copyAddress + offset, size: UInt64(count * 4))
            streams.end()
            workgroups += chunkWorkgroups
        }
        let commands = try connection.createBuffer(size: UInt64(streams.bytes.count), name: "commands")
        try commands.bytes.copyMemory(from: streams.bytes.withUnsafeBytes { $0 })
        let resources = [commands, x, y, z, copy, code].map { BufferRange(bufferId: $0.id, offset: 0, length: $0.size) }

        // Submissions on one context run in order: the last one's semaphore means all are done.
        let done = try connection.createSemaphore()
        let started = Clock.monotonicNanoseconds()
        for (index, start) in starts.enumerated() {
            try connection.execute(on: context, CommandDescriptor(
                resources: resources, commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: start)],
                signalSemaphores: index == starts.count - 1 ? [done.id] : []))
        }
        try Poll.wait([.semaphore(done)], timeoutNanoseconds: 60_000_000_000)
        let wall = Clock.monotonicNanoseconds() - started
        try connection.flush()

        var gpuTime: UInt64 = 0
        while let message = try connection.readNotification() {
            if case .completed(_, _, let nanoseconds) = SoftGPUNotification(bytes: message) { gpuTime += nanoseconds }
        }

        let zs = try z.contents.bindMemory(to: Float.self, capacity: elements)
        let copies = try copy.contents.bindMemory(to: Float.self, capacity: elements)
        var mismatches = 0
        for i in 0..<elements where zs[i] != xs[i] + ys[i] || copies[i] != zs[i] { mismatches += 1 }
        return Result(submissions: starts.count, dispatchWorkgroups: workgroups, copiedBytes: Int(bytes), bytesMoved: Int(bytes) * 5,
                      gpuNanoseconds: gpuTime, wallNanoseconds: wall, mismatches: mismatches)
    }
}
