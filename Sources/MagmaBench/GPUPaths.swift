import Dispatch
import Glibc
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import SoftGPU

/// A SoftGPU session of its own for the GPU paths: one connection, one context, and a helper that
/// submits a command stream and waits for it.
final class BenchSession {
    let connection: Connection
    let context: Context
    private var nextAddress: UInt64 = 0x100_0000

    /// A device whose dispatches use `computeThreads` threads.
    init(computeThreads: Int = SoftGPUConfiguration().computeThreads) throws {
        let driver = SoftGPUDriver(configuration: SoftGPUConfiguration(computeThreads: computeThreads))
        connection = try Device.open(.inProcess(driver)).createConnection()
        context = try connection.createContext()
    }

    func mapped(_ size: UInt64, flags: MapFlags = [.read, .write, .execute]) throws -> (Buffer, UInt64) {
        let buffer = try connection.createBuffer(size: size)
        let address = nextAddress
        try connection.map(buffer, at: address, flags: flags)
        nextAddress += buffer.size + 0x10_0000
        return (buffer, address)
    }

    func run(_ stream: CommandStream) throws {
        let commands = try connection.createBuffer(size: UInt64(stream.bytes.count))
        try commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        let done = try connection.createSemaphore()
        try connection.execute(on: context, CommandDescriptor(
            resources: [BufferRange(bufferId: commands.id, offset: 0, length: commands.size)],
            commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], signalSemaphores: [done.id]))
        try Poll.wait([.semaphore(done)], timeoutNanoseconds: Poller.forever)
        try connection.release(done)
        try connection.release(commands)
        if let error = connection.error { throw error }
        while (try? connection.readNotification()) != nil {}
    }

    func close() { connection.release() }
}

/// A SoftGPU copy between two mapped buffers (submit to completion), against memcpy of the
/// same bytes between the same buffers.
final class CopyBandwidth: BenchmarkPath {
    let name = "SoftGPU copy"
    let unit = "MiB"
    let operations: Int
    private let session: BenchSession
    private let source: Buffer
    private let target: Buffer
    private let stream: CommandStream

    init(mebibytes: Int) throws {
        operations = mebibytes
        session = try BenchSession()
        let size = UInt64(mebibytes) << 20
        let (source, sourceAddress) = try session.mapped(size)
        let (target, targetAddress) = try session.mapped(size)
        self.source = source
        self.target = target
        memset(try source.contents, 0x5A, Int(size))
        memset(try target.contents, 0, Int(size))
        var stream = CommandStream()
        stream.copy(from: sourceAddress, to: targetAddress, size: size)
        stream.end()
        self.stream = stream
    }

    func runMagma() throws { try session.run(stream) }

    func runFloor() throws { memcpy(try target.contents, try source.contents, operations << 20) }

    func close() { session.close() }
}

/// A SoftGPU vector add of f32 (submit to completion) on `threads` compute threads, against a
/// plain Swift loop over the same arrays split over as many threads.
final class VectorAdd: BenchmarkPath {
    let name: String
    let unit = "element"
    let operations: Int
    private let threads: Int
    private let session: BenchSession
    private let x: UnsafeMutablePointer<Float>
    private let y: UnsafeMutablePointer<Float>
    private let z: UnsafeMutablePointer<Float>
    private let buffers: [Buffer]
    private let stream: CommandStream

    init(elements: Int, threads: Int) throws {
        operations = elements
        self.threads = threads
        name = "SoftGPU vector add (f32, \(threads) thread\(threads == 1 ? "" : "s"))"
        session = try BenchSession(computeThreads: threads)
        let bytes = UInt64(elements * 4)
        let (xs, xAddress) = try session.mapped(bytes, flags: .read)
        let (ys, yAddress) = try session.mapped(bytes, flags: .read)
        let (zs, zAddress) = try session.mapped(bytes)
        buffers = [xs, ys, zs]
        x = try xs.contents.bindMemory(to: Float.self, capacity: elements)
        y = try ys.contents.bindMemory(to: Float.self, capacity: elements)
        z = try zs.contents.bindMemory(to: Float.self, capacity: elements)
        for i in 0..<elements {
            x[i] = Float(i)
            y[i] = 0.25
        }
        let program = try Assembler.assembleBytes(Kernels.vectorAddF32)
        let (code, codeAddress) = try session.mapped(UInt64(program.count), flags: [.read, .execute])
        try code.bytes.copyMemory(from: program.withUnsafeBytes { $0 })
        var stream = CommandStream()
        stream.dispatch(programAddress: codeAddress, programSize: UInt32(program.count), workgroupCount: UInt32((elements + 255) / 256),
                        workgroupSize: 256, arguments: [xAddress, yAddress, zAddress, UInt64(elements)])
        stream.end()
        self.stream = stream
    }

    func runMagma() throws { try session.run(stream) }

    func runFloor() throws {
        // The parts write disjoint ranges of z.
        nonisolated(unsafe) let (x, y, z) = (self.x, self.y, self.z)
        let (count, threads) = (operations, threads)
        guard threads > 1 else { return Self.add(x, y, z, 0..<count) }
        DispatchQueue.concurrentPerform(iterations: threads) { part in
            Self.add(x, y, z, (count * part / threads)..<(count * (part + 1) / threads))
        }
    }

    private static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ z: UnsafeMutablePointer<Float>,
                            _ range: Range<Int>) {
        for i in range { z[i] = x[i] + y[i] }
    }

    func close() { session.close() }
}
