import Logging
import MagmaPlatform
import MagmaProtocol
import MagmaSystem

/// magmad's connection service without its listeners and sessions (public for the fuzzers):
/// a connection opened here is served by the same `ServedConnection`, event loop and workers a
/// real client's is, over socket pairs whose client ends the caller holds.
public final class ServingHarness: Sendable {
    private let device: SystemDevice
    private let limits: ConnectionLimits
    private let account: ResourceAccount
    private let threads = ThreadGroup()
    private let reactor: ServerReactor
    private let logger = Logger(label: "magma.harness") { _ in SwiftLogNoOpLogHandler() }

    /// Starts an event loop and `workerCount` workers serving connections to `device`, each
    /// with `limits`.
    public init(device: SystemDevice, limits: ConnectionLimits, workerCount: Int = 1) throws(PlatformError) {
        self.device = device
        self.limits = limits
        account = ResourceAccount(limits: .init(maxDescriptors: 1024, maxImportedBytes: limits.maxImportedBytes), holder: "the harness")
        // A failed loop has ended every connection (`Client.waitEnded` sees it); the harness
        // serves nothing else, so there is nothing more to stop.
        reactor = try ServerReactor(workerCount: workerCount, group: threads, loopFailed: { _ in })
    }

    deinit { reactor.stop() }

    /// A connection served as magmad serves one: the client's ends of its primary and
    /// notification channels, and a way to wait until the server has released everything the
    /// connection held.
    public struct Client: Sendable {
        /// The client's end of the primary channel.
        public let primary: MessageSocket
        /// The client's end of the notification channel.
        public let notification: MessageSocket
        private let ended: EventSemaphore

        init(primary: MessageSocket, notification: MessageSocket, ended: EventSemaphore) {
            self.primary = primary
            self.notification = notification
            self.ended = ended
        }

        /// Waits until the server has ended the connection and released what it held, at most
        /// `timeoutNanoseconds`. Returns whether it did.
        public func waitEnded(timeoutNanoseconds: UInt64) -> Bool { ended.wait(timeoutNanoseconds: timeoutNanoseconds) }
    }

    /// Opens and serves one connection.
    public func connect() throws(MagmaError) -> Client {
        let primary: (MessageSocket, MessageSocket)
        let notification: (MessageSocket, MessageSocket)
        let ended: EventSemaphore
        do {
            primary = try MessageSocket.pair()
            notification = try MessageSocket.pair()
            ended = try EventSemaphore()
        } catch {
            throw .memoryError("no sockets for a harness connection: \(error)")
        }
        _ = try ServedConnection.start(device: device, primary: primary.1, notification: notification.1, limits: limits,
                                       maxQueuedNotifications: 64, account: account, logger: logger, reactor: reactor) { _ in
            ended.signal()
        }
        return Client(primary: primary.0, notification: notification.0, ended: ended)
    }
}
