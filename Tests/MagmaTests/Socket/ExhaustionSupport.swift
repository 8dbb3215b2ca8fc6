import Foundation
import MagmaPlatform
import MagmaProtocol
import MagmaWire

/// Whether a new device session on `path` answers a query within `timeoutNanoseconds`.
func answersQuery(_ path: String, timeoutNanoseconds: UInt64 = 5_000_000_000) -> Bool {
    guard let socket = try? MessageSocket.connect(path: path),
          let query = try? DeviceProtocol.Query(queryId: .deviceId).encoded(transactionId: 1),
          (try? socket.send(query.bytes)) != nil,
          (try? Poller.poll([PollRequest(descriptor: socket.descriptor.rawValue)], timeoutNanoseconds: timeoutNanoseconds).first) == true,
          case .message(let bytes, _, _)? = try? socket.receive(capacity: ProtocolLimits.maxMessageBytes),
          case .queryReply(let reply)? = try? DeviceProtocol.ServerMessage.decode(bytes: bytes).message else { return false }
    return reply.status == .ok
}

extension RawClient {
    /// Reads the primary channel until the epitaph and its end, waiting at most
    /// `timeoutNanoseconds` in all; returns the epitaph's status, CONNECTION_LOST for a close
    /// without one, or nil if the channel is still open at the deadline.
    func epitaph(within timeoutNanoseconds: UInt64) throws -> MagmaStatus? {
        let deadline = Clock.monotonicNanoseconds() + timeoutNanoseconds
        var status: MagmaStatus?
        while true {
            let left = deadline - min(deadline, Clock.monotonicNanoseconds())
            guard left > 0, try Poller.poll([PollRequest(descriptor: primary.descriptor.rawValue)], timeoutNanoseconds: left).first == true else {
                return nil
            }
            guard let message = try receive() else { return status ?? .connectionLost }
            if case .epitaph(let epitaph) = message { status = epitaph.status }
        }
    }

    /// Whether the connection is open and answers a flush within `timeoutNanoseconds`.
    func answersFlush(timeoutNanoseconds: UInt64 = 5_000_000_000) -> Bool {
        (try? flushed(timeoutNanoseconds: timeoutNanoseconds)) == true
    }
}

/// Runs `magmactl demo` against `path`: a bystander in its own process, whose GPU results
/// the demo checks against the CPU. True if it verified them within `timeoutSeconds` (it is
/// killed then).
func demoBystanderSucceeds(_ path: String, timeoutSeconds: Double = 20) -> Bool {
    let process = Process()
    guard let magmactl = try? BuiltExecutables.url("magmactl") else { return false }
    process.executableURL = magmactl
    process.arguments = ["demo", "--device", path, "--elements", "4096"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while process.isRunning, Date() < deadline { usleep(20_000) }
    if process.isRunning {
        process.terminate()
        process.waitUntilExit()
        return false
    }
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return process.terminationStatus == 0 && text.contains("verified")
}
