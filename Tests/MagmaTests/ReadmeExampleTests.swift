import Magma
import MagmaProtocol
import SoftGPU
import Testing

/// Keeps the README's usage example compiling and true. Keep the two in step.
@Test func readmeExampleRuns() throws {
    let device = try Device.open(.embedded)
    let connection = try device.createConnection()
    let context = try connection.createContext()

    // A buffer the GPU fills, mapped at a GPU address the client chooses.
    let target = try connection.createBuffer(size: 4096)
    try connection.map(target, at: 0x10_0000, flags: [.read, .write])

    // SoftGPU commands, in a buffer of their own.
    var stream = CommandStream()
    stream.fill(address: 0x10_0000, size: 4096, pattern: 0xC0FFEE)
    stream.end()
    let commands = try connection.createBuffer(size: UInt64(stream.bytes.count))
    commands.bytes.copyMemory(from: stream.bytes.withUnsafeBytes { $0 })

    // Submit; the semaphore signals when the GPU is done.
    let done = try connection.createSemaphore()
    try connection.execute(on: context, CommandDescriptor(
        resources: [BufferRange(bufferId: commands.id, offset: 0, length: commands.size)],
        commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)],
        signalSemaphores: [done.id]))
    try Poll.wait([.semaphore(done)], timeoutNanoseconds: 1_000_000_000)
    #expect(target.contents.load(as: UInt32.self) == 0xC0FFEE)
    #expect(target.contents.load(fromByteOffset: 4092, as: UInt32.self) == 0xC0FFEE)
}
