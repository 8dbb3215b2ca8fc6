import Glibc
import Magma
import MagmaGuestMemory
import MagmaPlatform
import MagmaProtocol

/// Serves the device model over the socket emulation: a SOCK_SEQPACKET listener at `path`;
/// each connection is one guest with a device model of its own (`VirtioDeviceModel`), served
/// on a thread of its own, so guests never share anything but the host device.
public final class VirtioSocketServer: Sendable {
    /// Where guests connect.
    public let path: String
    private let device: Device
    private let limits: VirtioDeviceLimits
    private let listener: MessageSocket
    private let sessions = Locked<[ObjectIdentifier: VirtioGuestSession]>([:])
    private let stopped = Locked(false)
    private let acceptEnded: EventSemaphore
    private let stopRequested: EventSemaphore

    /// Listens at `path` (replacing a stale socket there); `start()` begins accepting.
    public init(path: String, device: Device, limits: VirtioDeviceLimits = VirtioDeviceLimits()) throws(PlatformError) {
        self.path = path
        self.device = device
        self.limits = limits
        listener = try MessageSocket.listen(path: path, permissions: 0o600)
        try listener.setNonBlocking()
        acceptEnded = try EventSemaphore()
        stopRequested = try EventSemaphore()
    }

    /// Accepts guests on a thread of its own until `stop()`.
    public func start() throws(PlatformError) {
        try HostThread.spawn(name: "virtio.accept") { [self] in acceptGuests() }
    }

    /// Guests connected now.
    public var guestCount: Int { sessions.withLock { $0.count } }

    /// What each connected guest holds on the host now (its model's `counts`), for tests and diagnostics.
    public var guestCounts: [(contexts: Int, resources: Int, pendingFences: Int)] {
        sessions.withLock { sessions in sessions.values.map { $0.model.counts } }
    }

    /// How many regions of guest memory each guest being served has now (one per resource of
    /// the socket emulation's guests).
    public var guestMemoryRegionCounts: [Int] {
        sessions.withLock { sessions in sessions.values.map { $0.model.memory.regions.count } }
    }

    /// Stops accepting, ends every guest's session (their models close) and waits for them.
    public func stop() {
        guard !stopped.withLock({ stopped in defer { stopped = true }; return stopped }) else { return }
        stopRequested.signal()
        _ = acceptEnded.wait(timeoutNanoseconds: Poller.forever)
        let current = sessions.withLock { Array($0.values) }
        for session in current { session.socket.shutdown() }
        for session in current { _ = session.ended.wait(timeoutNanoseconds: Poller.forever) }
        unlink(path)
    }

    /// Waits for a guest or for `stop()`, with no busy loop.
    private func acceptGuests() {
        defer { acceptEnded.signal() }
        while true {
            let ready = try? Poller.poll([PollRequest(descriptor: listener.descriptor.fileDescriptor),
                                          PollRequest(descriptor: stopRequested.descriptor.fileDescriptor)], timeoutNanoseconds: Poller.forever)
            guard let ready, !ready[1] else { return }
            guard ready[0], let socket = try? listener.acceptIfPending() else { continue }
            serve(socket)
        }
    }

    private func serve(_ socket: MessageSocket) {
        let session: VirtioGuestSession
        do { session = try VirtioGuestSession(socket: socket, model: try VirtioDeviceModel(device: device, limits: limits)) } catch {
            socket.shutdown()   // no model for it: the guest sees its socket end
            return
        }
        let key = ObjectIdentifier(session)
        sessions.withLock { $0[key] = session }
        do {
            try HostThread.spawn(name: "virtio.guest") { [self] in
                session.run()
                sessions.withLock { _ = $0.removeValue(forKey: key) }
            }
        } catch {
            sessions.withLock { _ = $0.removeValue(forKey: key) }
            session.model.close()
            socket.shutdown()
        }
    }
}
