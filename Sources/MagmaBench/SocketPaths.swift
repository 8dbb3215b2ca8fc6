import Foundation
import Logging
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaServer
import MagmaSystem
import MagmaWire
import SoftGPU

/// A MagmaServer on SoftGPU in a temporary directory, for the socket paths.
final class BenchServer {
    let directory = FileManager.default.temporaryDirectory.appending(path: "magma-bench-\(UUID().uuidString.prefix(8))").path
    let server: MagmaServer

    init() throws {
        var logger = Logger(label: "magma-bench")
        logger.logLevel = .critical
        server = MagmaServer(device: try SystemDevice(driver: SoftGPUDriver()), configuration: .init(directory: directory, logger: logger))
        try server.start()
    }

    func close() {
        server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A synchronous query over the socket transport, against a raw SOCK_SEQPACKET ping-pong of the
/// same message sizes (query and reply).
final class QueryRoundTrip: BenchmarkPath {
    let name = "query round trip (socket)"
    let unit = "round trip"
    let operations: Int
    private let server: BenchServer
    private let device: Device
    private let channel: RawChannel
    private let echo: Worker
    private let request: [UInt8]

    init(operations: Int) throws {
        self.operations = operations
        server = try BenchServer()
        device = try Device.open(.socket(server.server.devicePath))
        request = try DeviceProtocol.Query(queryId: .vendorId).encoded(transactionId: 1).bytes
        let reply = try DeviceProtocol.QueryReply(status: .ok, value: 0, buffer: nil).encoded(transactionId: 1).bytes
        channel = try RawChannel()
        let far = channel.far
        echo = try Worker(name: "bench-echo") {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while RawChannel.receive(far, into: &buffer) > 0 { RawChannel.send(far, reply) }
        }
    }

    func runMagma() throws {
        for _ in 0..<operations { _ = try device.queryValue(.vendorId) }
    }

    func runFloor() throws {
        var buffer = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<operations {
            RawChannel.send(channel.near, request)
            _ = RawChannel.receive(channel.near, into: &buffer)
        }
    }

    func close() {
        shutdown(channel.near, Int32(SHUT_RDWR))
        echo.join()
        server.close()
    }
}

/// Inline commands over the socket transport, closed loop: the commands are split into
/// messages of at most 2 KiB, the last one signals a semaphore, and the run ends when that
/// semaphore wakes (every command has then run on the GPU). The floor is raw one-way sends of
/// the same messages to a reader that answers once it has read the last.
final class InlineCommandThroughput: BenchmarkPath {
    let name = "inline commands, closed loop (socket)"
    let unit = "command"
    let operations: Int
    private let server: BenchServer
    private let connection: Connection
    private let context: Context
    private let done: Magma.Semaphore
    private let commands: [InlineCommand]
    private let messages: [[UInt8]]
    private let channel: RawChannel
    private let reader: Worker

    init(commands count: Int) throws {
        operations = count
        server = try BenchServer()
        connection = try Device.open(.socket(server.server.devicePath)).createConnection()
        context = try connection.createContext()
        done = try connection.createSemaphore()
        var end = CommandStream()
        end.end()
        var commands = Array(repeating: InlineCommand(data: end.bytes), count: count)
        commands[count - 1].semaphores = [done.id]
        let contextId = context.id
        self.commands = commands
        messages = try InlineCommandBatching.batches(commands).map { batch in
            try PrimaryProtocol.ExecuteInlineCommands(contextId: contextId, commands: Array(batch)).encoded().bytes
        }
        channel = try RawChannel()
        let far = channel.far
        let expected = messages.count
        reader = try Worker(name: "bench-reader") {
            var buffer = [UInt8](repeating: 0, count: 65536)
            var received = 0
            while RawChannel.receive(far, into: &buffer) > 0 {
                received += 1
                if received == expected {
                    received = 0
                    RawChannel.send(far, [1])
                }
            }
        }
    }

    func runMagma() throws {
        try connection.executeInline(on: context, commands)
        try connection.flush()
        try Poll.wait([.semaphore(done)], timeoutNanoseconds: Poller.forever)
        done.reset()
        if let error = connection.error { throw error }
        // Every completion notification (one per message of commands), as a client reads them:
        // all of them, since some may still be on their way from the server when the socket is
        // empty for a moment (left unread, they would pile up past the server's backlog bound
        // over the runs).
        var unread = messages.count
        while unread > 0 {
            if try connection.readNotification() != nil {
                unread -= 1
            } else {
                try Poll.wait([.notifications(connection)], timeoutNanoseconds: 10_000_000_000)
            }
        }
    }

    func runFloor() throws {
        for message in messages { RawChannel.send(channel.near, message) }
        var buffer = [UInt8](repeating: 0, count: 16)
        _ = RawChannel.receive(channel.near, into: &buffer)
    }

    func close() {
        shutdown(channel.near, Int32(SHUT_RDWR))
        reader.join()
        connection.release()
        server.close()
    }
}
