import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaWire

/// A connection's driver notifications, brought over from the host: one `read_notification`
/// at a time, fenced on its own ring, its reply a page of its own. When the fence completes
/// (`VirtioWatcher` polls it) the notification is queued and the next read is submitted; a
/// CONNECTION_LOST reply ends the channel. `readiness` polls readable while a notification is
/// queued or the channel has ended, as the notification descriptor of the other backends does.
/// A read that finds none queued syncs with the host (`read(_:)`).
final class VirtioNotifications: Sendable {
    static let ring: UInt8 = 4
    private struct Queue {
        var messages: [[UInt8]] = []
        var ended = false
        var fence: (any VirtGPUFence)?
    }

    private let device: any VirtGPUDevice
    private let page: any VirtGPUResource
    private let queue = Locked(Queue())
    let readiness: EventSemaphore

    init(device: any VirtGPUDevice) throws(MagmaError) {
        self.device = device
        page = try device.createResource(size: SharedMemory.pageSize)
        do { readiness = try EventSemaphore() } catch { throw .internalError("notifications: \(error)") }
        arm()
    }

    /// Whether the channel has ended (the host's closed, or the connection did).
    var hasEnded: Bool { queue.withLock { $0.ended } }

    /// The pending read's fence, while the channel is open.
    var fence: (any VirtGPUFence)? { queue.withLock { $0.ended ? nil : $0.fence } }

    /// Submits the next read; a transport failure ends the channel.
    private func arm() {
        let area = GuestReplyArea(resourceId: page.resourceId, offset: 0, length: UInt32(page.size))
        page.mapping.initializeMemory(as: UInt8.self, repeating: 0)
        let fence: (any VirtGPUFence)?
        do {
            fence = try device.submit(try VirtioContextCommand.payload([.virtio(.readNotification(.init(reply: area)))]),
                                      onFenceRing: Self.ring)
        } catch { fence = nil }
        queue.withLock { queue in
            queue.fence = fence
            if fence == nil { end(&queue) }
        }
    }

    /// The pending read's fence completed: queues its notification and reads the next, or ends
    /// the channel; a preempted read (`preempted_reply`: it took nothing) is submitted again.
    func completed() {
        let reply = VirtioReplySlot.decode(page.mapping)
        if case .preemptedReply? = reply { return arm() }
        var message: [UInt8]?
        if case .notificationReply(let reply)? = reply, reply.status == .ok { message = reply.data }
        guard let message else { return queue.withLock { end(&$0) } }
        queue.withLock { queue in
            queue.messages.append(message)
            readiness.signal()
        }
        arm()
    }

    /// Ends the channel (the host's closed, or the connection did): readable from then on.
    func end() { queue.withLock { end(&$0) } }

    private func end(_ queue: inout Queue) {
        queue.ended = true
        queue.fence = nil
        readiness.signal()
    }

    /// The next notification, or nil if there is none; CONNECTION_LOST once the channel has
    /// ended and every notification was read. With none queued it asks the host first
    /// (`sync_notifications` through `calls`), so nil means the host connection had none
    /// pending, not that one is still on its way.
    func read(_ calls: VirtioCalls) throws(MagmaError) -> [UInt8]? {
        if let message = try take() { return message }
        do { try calls.statusCall { .syncNotifications(.init(reply: $0)) } } catch where error.status == .connectionLost {
            // The channel has ended. Every read before the last was taken in (the next is armed
            // only then), and the last carries no notification: the queue may end now.
            end()
        }
        return try take()
    }

    private func take() throws(MagmaError) -> [UInt8]? {
        let (message, ended) = queue.withLock { queue -> ([UInt8]?, Bool) in
            guard !queue.messages.isEmpty else { return (nil, queue.ended) }
            let message = queue.messages.removeFirst()
            if queue.messages.isEmpty, !queue.ended { readiness.reset() }
            return (message, false)
        }
        if ended { throw MagmaError(.connectionLost, "the notification channel has ended") }
        return message
    }
}
