import Foundation
import MagmaPlatform
import MagmaProtocol
import MagmaWire

/// Whether a new device session on `path` answers a query within `timeoutNanoseconds`.
func answersQuery(_ path: String, timeoutNanoseconds: UInt64 = 5_000_000_000) -> Bool {
    guard let socket = try? MessageSocket.connect(path: path),
          let query = try? DeviceProtocol.Query(queryId: .deviceId).encoded(transactionId: 1),
          (try? socket.send(query.bytes)) != nil,
          (try? Poller.poll([PollRequest(descriptor: socket.descriptor.fileDescriptor)], timeoutNanoseconds: timeoutNanoseconds).first) == true,
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
            guard left > 0, try Poller.poll([PollRequest(descriptor: primary.descriptor.fileDescriptor)], timeoutNanoseconds: left).first == true else {
                return nil
            }
            guard let message = try receive() else { return status ?? .connectionLost }
            if case .epitaph(let epitaph) = message { status = epitaph.status }
        }
    }

    /// Sends a flush and reads what comes back within `timeoutNanoseconds`: OK for its reply
    /// (the connection is served), the epitaph's status, CONNECTION_LOST for a close without
    /// one, or nil for nothing at all.
    func admission(timeoutNanoseconds: UInt64 = 5_000_000_000) -> MagmaStatus? {
        try? send(.flush(.init()), transactionId: 6)   // fails if refused already; the epitaph is still there to read
        let deadline = Clock.monotonicNanoseconds() + timeoutNanoseconds
        while true {
            let left = deadline - min(deadline, Clock.monotonicNanoseconds())
            guard left > 0, (try? Poller.poll([PollRequest(descriptor: primary.descriptor.fileDescriptor)], timeoutNanoseconds: left).first) == true else {
                return nil
            }
            guard let message = try? receive() else { return .connectionLost }
            if case .flushReply = message { return .ok }
            if case .epitaph(let epitaph) = message { return epitaph.status }
        }
    }

    /// Whether the connection is open and answers a flush within `timeoutNanoseconds`.
    func answersFlush(timeoutNanoseconds: UInt64 = 5_000_000_000) -> Bool {
        (try? flushed(timeoutNanoseconds: timeoutNanoseconds)) == true
    }
}

/// Runs `magmactl demo` against `path`: a bystander in its own process (as user `uid` if
/// given, through setpriv), whose GPU results the demo checks against the CPU. True if it
/// verified them within `timeoutSeconds` (it is killed then).
func demoBystanderSucceeds(_ path: String, uid: UInt32? = nil, timeoutSeconds: Double = 20) -> Bool {
    let process = Process()
    guard let magmactl = try? BuiltExecutables.url("magmactl") else { return false }
    let demo = ["demo", "--device", path, "--elements", "4096"]
    if let uid {
        process.executableURL = URL(filePath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", magmactl.path] + demo
    } else {
        process.executableURL = magmactl
        process.arguments = demo
    }
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
    process.waitUntilExit()   // it has ended; waiting lets Foundation release the Process
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return process.terminationStatus == 0 && text.contains("verified")
}
