import Magma
import MagmaDevices
import MagmaProtocol
import SoftGPU

/// An in-process SoftGPU connection with one context and a command buffer holding only `end`:
/// what the submission paths submit, so they measure the submission and nothing it runs.
struct EndOnlySubmissions {
    let connection: Connection
    let context: Context
    private let commands: Buffer

    init() throws {
        connection = try Device.open(.inProcess(SoftGPUDriver())).createConnection()
        context = try connection.createContext()
        var end = CommandStream()
        end.end()
        commands = try connection.createBuffer(size: 4096)
        try commands.bytes.copyMemory(from: end.bytes.withUnsafeBytes { $0 })
    }

    /// A submission of the end-only command buffer that waits on `waits` and signals `signals`.
    func descriptor(waits: [Magma.Semaphore] = [], signals: [Magma.Semaphore] = []) -> CommandDescriptor {
        CommandDescriptor(resources: [BufferRange(bufferId: commands.id, offset: 0, length: 8)],
                          commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)],
                          waitSemaphores: waits.map(\.id), signalSemaphores: signals.map(\.id))
    }
}
