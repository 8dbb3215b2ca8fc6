import Magma
import MagmaProtocol
import MagmaWire

/// A guest's `read_notification` or `sync_notifications`: its fence and where the reply goes.
/// A read is answered once the context's host connection has a notification pending (ok, with
/// it) or its channel has ended (CONNECTION_LOST). A sync is answered once a read waits on an
/// empty channel (every notification before it has been answered) or the channel has ended.
struct NotificationRead: Sendable {
    let fence: Fence
    let reply: ReplyTarget
    /// A `sync_notifications` (a barrier) rather than a read.
    let isSync: Bool

    /// What one look at the channel found.
    enum Outcome {
        /// A notification, now answered.
        case answered
        /// Nothing pending: the read waits.
        case waiting
        /// The channel has ended; the read is answered with CONNECTION_LOST.
        case ended
    }

    /// Reads the channel once (a read only) and writes the reply if there is one; the caller
    /// marks the fence done for `.answered` and `.ended`.
    func tryAnswer(_ connection: Connection) -> Outcome {
        let message: [UInt8]?
        do { message = try connection.readNotification() } catch {
            writeEnd()
            return .ended
        }
        guard let message else { return .waiting }
        do { try reply.write(VirtioContextProtocol.NotificationReply(status: .ok, data: message)) } catch {
            // A reply area too small for it: the guest named one; it reads no reply and ends
            // its channel, and the context fails as for any bad reply area.
            connection.fail(error)
        }
        return .answered
    }

    /// Writes a sync's reply: ok, or CONNECTION_LOST once the channel has ended.
    func writeSync(channelEnded: Bool) {
        try? reply.writeStatus(channelEnded ? MagmaError(.connectionLost, "the notification channel has ended") : nil)
    }

    /// Ends it without a notification (the channel ended, or the context did): CONNECTION_LOST,
    /// and its fence is done.
    func end(_ timelines: FenceTimelines) {
        writeEnd()
        timelines.done(fence)
    }

    private func writeEnd() {
        if isSync { return writeSync(channelEnded: true) }
        try? reply.write(VirtioContextProtocol.NotificationReply(status: .connectionLost, data: []))
    }
}
