import Magma
import MagmaPlatform
import MagmaProtocol
import SoftGPU

/// The demo's GPU work: z = x + y by a compute dispatch, then a copy of z, one submission.
struct DemoWorkload {
    static let workgroupSize: UInt32 = 256
    // GPU virtual addresses chosen by the client, as Magma expects.
    static let programAddress: UInt64 = 0x0010_0000
    static let xAddress: UInt64 = 0x1000_0000
    static let yAddress: UInt64 = 0x2000_0000
    static let zAddress: UInt64 = 0x3000_0000
    static let copyAddress: UInt64 = 0x4000_0000

    struct Result {
        var dispatchWorkgroups: UInt32
        var copiedBytes: Int
        var bytesMoved: Int
        var gpuNanoseconds: UInt64
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
        code.bytes.copyMemory(from: program.withUnsafeBytes { $0 })
        let x = try connection.createBuffer(size: bytes, name: "x")
        let y = try connection.createBuffer(size: bytes, name: "y")
        let z = try connection.createBuffer(size: bytes, name: "z")
        let copy = try connection.createBuffer(size: bytes, name: "copy")
        let xs = x.contents.bindMemory(to: Float.self, capacity: elements)
        let ys = y.contents.bindMemory(to: Float.self, capacity: elements)
        for i in 0..<elements {
            xs[i] = Float(i)
            ys[i] = Float(2 * i)
        }

        try connection.map(code, at: Self.programAddress, flags: [.read, .execute])
        try connection.map(x, at: Self.xAddress, flags: .read)
        try connection.map(y, at: Self.yAddress, flags: .read)
        try connection.map(z, at: Self.zAddress, flags: [.read, .write])
        try connection.map(copy, at: Self.copyAddress, flags: .write)

        let workgroups = UInt32((elements + Int(Self.workgroupSize) - 1) / Int(Self.workgroupSize))
        var stream = CommandStream()
        stream.dispatch(programAddress: Self.programAddress, programSize: UInt32(program.count), workgroupCount: workgroups,
                        workgroupSize: Self.workgroupSize, arguments: [Self.xAddress, Self.yAddress, Self.zAddress, UInt64(elements)])
        stream.copy(from: Self.zAddress, to: Self.copyAddress, size: bytes)
        stream.end()
        let commands = try connection.createBuffer(size: UInt64(stream.bytes.count), name: "commands")
        commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })

        let done = try connection.createSemaphore()
        let started = Clock.monotonicNanoseconds()
        try connection.execute(on: context, CommandDescriptor(
            resources: [BufferRange(bufferId: commands.id, offset: 0, length: commands.size),
                        BufferRange(bufferId: x.id, offset: 0, length: x.size),
                        BufferRange(bufferId: y.id, offset: 0, length: y.size),
                        BufferRange(bufferId: z.id, offset: 0, length: z.size),
                        BufferRange(bufferId: copy.id, offset: 0, length: copy.size),
                        BufferRange(bufferId: code.id, offset: 0, length: code.size)],
            commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)],
            signalSemaphores: [done.id]))
        try Poll.wait([.semaphore(done)], timeoutNanoseconds: 60_000_000_000)
        let wall = Clock.monotonicNanoseconds() - started
        try connection.flush()

        var gpuTime: UInt64 = 0
        while let message = try connection.readNotification() {
            if case .completed(_, _, let nanoseconds) = SoftGPUNotification(bytes: message) { gpuTime += nanoseconds }
        }

        let zs = z.contents.bindMemory(to: Float.self, capacity: elements)
        let copies = copy.contents.bindMemory(to: Float.self, capacity: elements)
        var mismatches = 0
        for i in 0..<elements where zs[i] != xs[i] + ys[i] || copies[i] != zs[i] { mismatches += 1 }
        return Result(dispatchWorkgroups: workgroups, copiedBytes: Int(bytes), bytesMoved: Int(bytes) * 5,
                      gpuNanoseconds: gpuTime, wallNanoseconds: wall, mismatches: mismatches)
    }
}
