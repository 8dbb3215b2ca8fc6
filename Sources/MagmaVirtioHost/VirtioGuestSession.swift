import Magma
import MagmaGuestMemory
import MagmaPlatform
import MagmaProtocol
import MagmaWire

/// One guest on the socket emulation (protocol `virtio_socket`): its own device model, fed
/// from its own connection, on a thread of its own. Anything but a well-formed message of the
/// protocol ends the session (the guest broke it), and so does the end of its socket: the model
/// then closes, releasing everything the guest held on the host.
final class VirtioGuestSession: Sendable {
    let socket: MessageSocket
    let model: VirtioDeviceModel
    /// Signaled when the session has ended and its model closed.
    let ended: EventSemaphore

    init(socket: MessageSocket, model: VirtioDeviceModel) throws(PlatformError) {
        self.socket = socket
        self.model = model
        ended = try EventSemaphore()
    }

    /// Serves the guest until its socket ends or it breaks the protocol.
    func run() {
        defer {
            model.close()
            socket.shutdown()
            ended.signal()
        }
        while true {
            let datagram: Datagram?
            do { datagram = try socket.receive(capacity: ProtocolLimits.maxMessageBytes) } catch { return }
            guard case .message(let bytes, let descriptors, let truncated)? = datagram, !truncated else { return }
            let handles = descriptors.map { WireHandle($0.fileDescriptor) }
            guard let received = try? VirtioSocketProtocol.ClientMessage.decode(bytes: bytes, handles: handles),
                  received.unclaimedHandles.isEmpty else { return }
            let transaction = received.header.transactionId
            switch received.message {
            case .addMemoryRegion(let message):
                guard let memfd = descriptors.owning(message.memory.descriptor) else { return }
                let reply = Self.regionReply { () throws(GuestMemoryError) in
                    // Only a memfd no holder can shrink: a truncated region would turn the host's
                    // access to its pages into SIGBUS.
                    guard SharedMemory.isSizeSealedMemfd(memfd.fileDescriptor) else { throw .notSizeSealed(guestAddress: message.guestAddress) }
                    try model.memory.add(region: GuestMemoryRegion(guestAddress: message.guestAddress, size: message.size, memfd: memfd))
                }
                guard send(reply, transactionId: transaction, descriptors: []) else { return }
            case .removeMemoryRegion(let message):
                let reply = Self.regionReply { () throws(GuestMemoryError) in _ = try model.memory.remove(guestAddress: message.guestAddress) }
                guard send(reply, transactionId: transaction, descriptors: []) else { return }
            case .control(let message):
                let result = model.perform(message.command)
                let completion = result.completion.map { WireHandle($0.descriptor.fileDescriptor) }
                let reply = VirtioSocketProtocol.ControlResponse(response: result.response, completion: completion)
                guard send(reply, transactionId: transaction, descriptors: [result.completion].compactMap { $0 }) else { return }
            }
        }
    }

    /// The reply to a change of the guest's memory table: MEMORY_ERROR when the guest has all
    /// the regions it may, INVALID_ARGS for any other refusal, with the reason.
    private static func regionReply(_ change: () throws(GuestMemoryError) -> Void) -> VirtioSocketProtocol.MemoryRegionReply {
        do {
            try change()
            return .init(status: .ok, reason: "")
        } catch {
            let status: MagmaStatus = if case .regionLimit = error { .memoryError } else { .invalidArgs }
            return .init(status: status, reason: "\(error)".truncated(toUTF8Bytes: 256))
        }
    }

    /// Sends a reply, keeping `descriptors`' owners alive across the send; false if the guest is gone.
    private func send<M: WireMessage>(_ reply: M, transactionId: UInt32, descriptors: [EventSemaphore]) -> Bool {
        do {
            let encoded = try reply.encoded(transactionId: transactionId)
            try withExtendedLifetime(descriptors) { () throws(PlatformError) in
                try socket.send(encoded.bytes, descriptors: encoded.handles.map { $0.descriptor })
            }
            return true
        } catch {
            return false
        }
    }
}
