import func Glibc.usleep
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import SoftGPU
import Testing

/// A connection on the embedded device with one context, plus helpers to run SoftGPU work.
final class GPUSession {
    let device: Device
    let connection: Connection
    let context: Context
    private var nextAddress: UInt64 = 0x100_0000

    init(device: Device? = nil, priority: Priority = .medium) throws {
        self.device = try device ?? Device.open(.embedded)
        connection = try self.device.createConnection()
        context = try connection.createContext(priority: priority)
    }

    deinit { connection.release() }

    /// A fresh page-aligned GPU address range of `size` bytes (with a guard gap).
    func reserveAddress(_ size: UInt64) -> UInt64 {
        let address = nextAddress
        nextAddress += (SharedMemory.pageAligned(size)! + 0x10000)
        return address
    }

    /// Creates a buffer holding `bytes`, mapped with `flags`; returns it and its GPU address.
    func upload(_ bytes: [UInt8], flags: MapFlags = [.read, .write]) throws -> (Buffer, UInt64) {
        let buffer = try connection.createBuffer(size: UInt64(max(bytes.count, 1)))
        try buffer.bytes.copyMemory(from: bytes.withUnsafeBytes { $0 })
        let address = reserveAddress(buffer.size)
        try connection.map(buffer, at: address, flags: flags)
        return (buffer, address)
    }

    /// A mapped, zeroed buffer of `size` bytes.
    func mappedBuffer(size: UInt64, flags: MapFlags = [.read, .write]) throws -> (Buffer, UInt64) {
        let buffer = try connection.createBuffer(size: size)
        let address = reserveAddress(buffer.size)
        try connection.map(buffer, at: address, flags: flags)
        return (buffer, address)
    }

    /// Maps an assembled program executable; returns its address and size.
    func loadProgram(_ source: String) throws -> (address: UInt64, size: UInt32) {
        let bytes = try Assembler.assembleBytes(source)
        let (_, address) = try upload(bytes, flags: [.read, .execute])
        return (address, UInt32(bytes.count))
    }

    /// Puts `stream` in a buffer and submits it with the given semaphores.
    @discardableResult
    func submit(_ stream: CommandStream, waits: [Semaphore] = [], signals: [Semaphore] = [], extraResources: [Buffer] = [],
                on context: Context? = nil) throws -> Buffer {
        let commands = try connection.createBuffer(size: UInt64(stream.bytes.count))
        try commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })
        let resources = [BufferRange(bufferId: commands.id, offset: 0, length: UInt64(stream.bytes.count))]
            + extraResources.map { BufferRange(bufferId: $0.id, offset: 0, length: $0.size) }
        try connection.execute(on: context ?? self.context, CommandDescriptor(
            resources: resources, commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)],
            waitSemaphores: waits.map(\.id), signalSemaphores: signals.map(\.id)))
        return commands
    }

    /// Submits `stream` and waits for it to complete; throws the connection's error if the
    /// work failed.
    func run(_ stream: CommandStream, extraResources: [Buffer] = []) throws {
        let done = try connection.createSemaphore()
        let commands = try submit(stream, signals: [done], extraResources: extraResources)
        try waitFor(done)
        try connection.release(done)
        try connection.release(commands)
    }

    /// Waits for `semaphore`; throws if the connection fails first.
    func waitFor(_ semaphore: Semaphore, timeoutNanoseconds: UInt64 = 120_000_000_000) throws {
        let deadline = Clock.monotonicNanoseconds() + timeoutNanoseconds
        while !semaphore.isSignaled {
            if let error = connection.error { throw error }
            guard Clock.monotonicNanoseconds() < deadline else { throw MagmaError(.timedOut, "semaphore \(semaphore.id)") }
            _ = try? Poll.wait([.semaphore(semaphore)], timeoutNanoseconds: 50_000_000)
        }
    }

    /// Reads every pending notification, decoded; on a failed connection, every one up to the
    /// end of its channel, waiting for the driver's report of the failure.
    func notifications() throws -> [SoftGPUNotification] {
        var out: [SoftGPUNotification] = []
        let deadline = Clock.monotonicNanoseconds() + 10_000_000_000
        while true {
            let message: [UInt8]?
            do {
                message = try connection.readNotification()
            } catch {
                if error.status == .connectionLost { break }
                throw error
            }
            if let message {
                if let decoded = SoftGPUNotification(bytes: message) { out.append(decoded) }
                continue
            }
            // Nothing pending. A failed connection's error is set before the driver's report of
            // the failure is delivered, and its channel closes only after that report: wait for
            // the close (at most 10 s). A healthy connection has nothing more now.
            guard connection.error != nil, Clock.monotonicNanoseconds() < deadline else { break }
            usleep(1_000)
        }
        return out
    }
}

extension GPUSession {
    /// Fills `size` bytes at `address` with `pattern` on the GPU and waits for it.
    func fill(address: UInt64, size: UInt64, pattern: UInt32) throws {
        var stream = CommandStream()
        stream.fill(address: address, size: size, pattern: pattern)
        stream.end()
        try run(stream)
    }

    /// Whether a new buffer of `size` bytes, filled with `pattern` on the GPU, reads back as it.
    func fillsCorrectly(size: UInt64 = 4096, pattern: UInt32) throws -> Bool {
        let (target, address) = try mappedBuffer(size: size)
        try fill(address: address, size: size, pattern: pattern)
        return try target.u32s(Int(size) / 4).allSatisfy { $0 == pattern }
    }
}

extension GPUSession {
    /// A stream that computes `z = x + y` over `count` f32 (x and y filled from the closures),
    /// in workgroups of 256, and the z buffer.
    func vectorAdd(count: Int, x: (Int) -> Float, y: (Int) -> Float) throws -> (CommandStream, Buffer) {
        let (xs, xAddress) = try mappedBuffer(size: UInt64(count * 4), flags: .read)
        let (ys, yAddress) = try mappedBuffer(size: UInt64(count * 4), flags: .read)
        let (z, zAddress) = try mappedBuffer(size: UInt64(count * 4))
        let xValues = try xs.contents.bindMemory(to: Float.self, capacity: count)
        let yValues = try ys.contents.bindMemory(to: Float.self, capacity: count)
        for i in 0..<count {
            xValues[i] = x(i)
            yValues[i] = y(i)
        }
        let program = try loadProgram(Kernels.vectorAddF32)
        var stream = CommandStream()
        stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: UInt32((count + 255) / 256),
                        workgroupSize: 256, arguments: [xAddress, yAddress, zAddress, UInt64(count)])
        return (stream, z)
    }
}

extension SoftGPUConfiguration {
    /// For heavy work: a watchdog long enough for sanitizer builds (which run SoftGPU's
    /// interpreter many times slower); the tests that use it are not about the watchdog.
    static let heavyWork = SoftGPUConfiguration(watchdogNanoseconds: 120_000_000_000)
}

/// Waits until the connection reports an error (work faults arrive asynchronously).
func awaitError(_ connection: Connection, timeoutNanoseconds: UInt64 = 10_000_000_000) -> MagmaError? {
    let deadline = Clock.monotonicNanoseconds() + timeoutNanoseconds
    while Clock.monotonicNanoseconds() < deadline {
        if let error = connection.error { return error }
        _ = try? Poll.wait([.notifications(connection)], timeoutNanoseconds: 10_000_000)
    }
    return connection.error
}

/// Asserts that `body` throws a MagmaError with `status`.
func expectStatus(_ status: MagmaStatus, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(status), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as MagmaError {
        #expect(error.status == status, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected MagmaError \(status), got \(error)", sourceLocation: sourceLocation)
    }
}

extension Buffer {
    /// Reads the u32 at byte `offset`.
    func u32(at offset: Int) throws(MagmaError) -> UInt32 { try contents.load(fromByteOffset: offset, as: UInt32.self) }
    /// Reads `count` u32 from the start.
    func u32s(_ count: Int) throws(MagmaError) -> [UInt32] {
        let words = try contents
        return (0..<count).map { words.load(fromByteOffset: $0 * 4, as: UInt32.self) }
    }
}
