import MagmaPlatform

/// The GPU front-end's display socket (VHOST_USER_GPU_SET_SOCKET, docs/interop/vhost-user-gpu.rst):
/// the back-end asks the front-end's protocol features and sets the ones it uses (none: this
/// device has no scanout, and answers GET_DISPLAY_INFO and GET_EDID itself). The exchange runs
/// on a thread of its own, bounded in time: the front-end answers from its main loop, which may
/// be waiting on the back-end's main socket meanwhile.
final class VhostUserGPUSocket: Sendable {
    static let getProtocolFeatures: UInt32 = 1
    static let setProtocolFeatures: UInt32 = 2
    static let replyFlag: UInt32 = 0x4

    let channel: VhostUserChannel
    /// The front-end's protocol features once it has answered; the error if it did not.
    let outcome = Locked<Result<UInt64, VhostUserError>?>(nil)
    /// Signaled once the exchange has ended, either way.
    let done: EventSemaphore

    init(channel: VhostUserChannel, timeoutNanoseconds: UInt64 = 10_000_000_000) throws(VhostUserError) {
        self.channel = channel
        do {
            done = try EventSemaphore()
            try HostThread.spawn(name: "vhost-gpu-socket") { [self] in
                let result = Result { () throws(VhostUserError) -> UInt64 in try negotiate(timeoutNanoseconds: timeoutNanoseconds) }
                outcome.withLock { $0 = result }
                done.signal()
            }
        } catch { throw .platform(error) }
    }

    /// Ends the exchange if it is still running and closes the socket; returns once it has ended.
    func close() {
        channel.socket.shutdown()
        _ = done.wait(timeoutNanoseconds: Poller.forever)
    }

    private func negotiate(timeoutNanoseconds: UInt64) throws(VhostUserError) -> UInt64 {
        try channel.send(VhostUserMessage(request: Self.getProtocolFeatures, flags: 0))
        guard channel.socket.waitReadable(until: Deadline(after: timeoutNanoseconds)) else { throw .truncated(needed: VhostUserMessage.headerSize, received: 0) }
        guard let reply = try channel.receive(requireVersion: false) else { throw .truncated(needed: VhostUserMessage.headerSize, received: 0) }
        guard reply.request == Self.getProtocolFeatures, reply.flags & Self.replyFlag != 0, reply.payload.count == 8, reply.descriptors.isEmpty else {
            throw .invalid("display socket: a reply of request \(reply.request), flags 0x\(String(reply.flags, radix: 16)), \(reply.payload.count) bytes")
        }
        var input = LittleEndianReader(reply.payload)
        let features = try input.u64()
        var out = LittleEndianWriter()
        out.u64(0)
        try channel.send(VhostUserMessage(request: Self.setProtocolFeatures, flags: 0, payload: out.bytes))
        return features
    }
}
