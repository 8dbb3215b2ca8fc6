import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaWire

/// The guest side's one thread per connection: it waits (poll, no busy loop) for the fences the
/// host completes on the connection's behalf: the pending `read_notification`
/// (`VirtioNotifications`), the standing `watch_failure` (the connection's
/// failure, recorded as its sticky error; or the socket's hang-up, CONNECTION_LOST), each semaphore mirror's `wait_semaphores` watch
/// (the mirror is then signaled), and fenced work that waited on semaphores (their mirrors are
/// then checked against the host, as the work reset them).
final class VirtioWatcher: Sendable {
    static let watchRing: UInt8 = 2
    static let workRing: UInt8 = 1
    static let failureRing: UInt8 = 3

    private struct State {
        var watches: [ObjectIdentifier: (semaphore: VirtioSemaphore, fence: any VirtGPUFence)] = [:]
        var work: [(fence: any VirtGPUFence, waited: [VirtioSemaphore])] = []
        var stopped = false
    }

    private let state = Locked(State())
    private let wake: EventSemaphore
    private let device: VirtGPUSocketDevice
    private let replies: any VirtGPUResource
    private let failureFence: any VirtGPUFence
    /// The connection's driver notifications, whose read fence this thread polls.
    let notifications: VirtioNotifications
    private let onFailure: @Sendable (MagmaError) -> Void
    private let resync: @Sendable ([VirtioSemaphore]) -> Void

    init(device: VirtGPUSocketDevice, onFailure: @escaping @Sendable (MagmaError) -> Void,
         resync: @escaping @Sendable ([VirtioSemaphore]) -> Void) throws(MagmaError) {
        self.device = device
        self.onFailure = onFailure
        self.resync = resync
        do { wake = try EventSemaphore() } catch { throw .internalError("watcher: \(error)") }
        replies = try device.createResource(size: SharedMemory.pageSize)
        let payload: [UInt8]
        do {
            payload = try VirtioContextCommand.payload([.virtio(.watchFailure(.init(reply: Self.area(replies, slot: 0))))])
        } catch { throw .internalError("\(error)") }
        guard let fence = try device.submit(payload, fenceOnRing: Self.failureRing) else { throw .internalError("failure watch: no fence") }
        failureFence = fence
        notifications = try VirtioNotifications(device: device)
        do { try HostThread.spawn(name: "virtio.watch") { [self] in run() } } catch { throw .internalError("watcher thread: \(error)") }
    }

    /// The reply area of slot `slot` (0: the failure watch, 1: every semaphore watch).
    private static func area(_ replies: any VirtGPUResource, slot: Int) -> GuestReplyArea {
        GuestReplyArea(resourceId: replies.resourceId, offset: UInt32(slot * 512), length: 512)
    }

    /// Arms a watch for `semaphore` (its mirror is unsignaled) unless one is pending.
    func watch(_ semaphore: VirtioSemaphore) {
        let key = ObjectIdentifier(semaphore)
        guard state.withLock({ !$0.stopped && $0.watches[key] == nil }) else { return }
        guard let payload = try? VirtioContextCommand.payload([.virtio(.waitSemaphores(.init(
                  semaphoreIds: [semaphore.id], waitAll: true, reply: Self.area(replies, slot: 1))))]),
              let fence = try? device.submit(payload, fenceOnRing: Self.watchRing) else { return }
        state.withLock { $0.watches[key] = (semaphore, fence) }
        wake.signal()
    }

    /// Work fenced on the work ring that waited on `waited`: their mirrors are checked once it completes.
    func track(_ fence: any VirtGPUFence, waited: [VirtioSemaphore]) {
        state.withLock { $0.work.append((fence, waited)) }
        wake.signal()
    }

    /// Ends the thread; the semaphores it watched are let go.
    func stop() {
        state.withLock { state in
            state.stopped = true
            state.watches = [:]
            state.work = []
        }
        wake.signal()
    }

    private func run() {
        var failureSeen = false
        while true {
            wake.reset()
            let (stopped, watches, work) = state.withLock { ($0.stopped, $0.watches, $0.work) }
            if stopped { return }
            var requests = [PollRequest(descriptor: wake.descriptor.rawValue)]
            if !failureSeen {
                requests.append(PollRequest(descriptor: failureFence.pollDescriptor))
                requests.append(PollRequest(descriptor: device.hangupDescriptor, events: 0))
            }
            let watchList = Array(watches)
            requests += watchList.map { PollRequest(descriptor: $0.value.fence.pollDescriptor) }
            requests += work.map { PollRequest(descriptor: $0.fence.pollDescriptor) }
            let notificationFence = notifications.fence
            if let notificationFence { requests.append(PollRequest(descriptor: notificationFence.pollDescriptor)) }
            guard let ready = try? Poller.poll(requests, timeoutNanoseconds: Poller.forever) else { return }
            var index = 1
            if !failureSeen {
                if ready[index] {
                    failureSeen = true
                    onFailure(failure())
                } else if ready[index + 1] {
                    // The host has gone without completing the failure watch, or its reads.
                    failureSeen = true
                    onFailure(MagmaError(.connectionLost, "the virtio host has gone"))
                    notifications.end()
                }
                index += 2
            }
            // After the failure: the host completes a failure's watch before the channel's end.
            if notificationFence != nil, ready[requests.count - 1] { notifications.completed() }
            var signaled: [VirtioSemaphore] = []
            var doneWatches: [ObjectIdentifier] = []
            for (key, watch) in watchList {
                if ready[index] {
                    doneWatches.append(key)
                    signaled.append(watch.semaphore)
                }
                index += 1
            }
            var workDone: [Bool] = []
            var consumed: [VirtioSemaphore] = []
            for item in work {
                workDone.append(ready[index])
                if ready[index] { consumed += item.waited }
                index += 1
            }
            state.withLock { state in
                for key in doneWatches { state.watches[key] = nil }
                // Work is only appended elsewhere: the snapshot is the list's prefix.
                let kept = zip(state.work.prefix(workDone.count), workDone).filter { !$0.1 }.map(\.0)
                state.work = kept + state.work.dropFirst(workDone.count)
            }
            // A watch that ended because the context failed (its reply says so) signals nothing.
            if !signaled.isEmpty, watchSucceeded() { for semaphore in signaled { semaphore.mirror.signal() } }
            if !consumed.isEmpty { resync(consumed) }
        }
    }

    /// Whether the semaphore watches' shared reply says ok: every watch that ends while the
    /// context is healthy writes the same ok reply there; once it has failed, they write the error.
    private func watchSucceeded() -> Bool {
        let bytes = UnsafeMutableRawBufferPointer(rebasing: replies.mapping[512..<1024])
        let length = Int(UInt32(littleEndian: bytes.load(as: UInt32.self)))
        guard length >= MessageHeader.byteCount, length <= 512,
              case .statusReply(let reply)? = try? VirtioContextProtocol.ServerMessage.decode(bytes: Array(bytes[0..<length])).message else {
            return false
        }
        return reply.status == .ok
    }

    /// The failure the standing watch reported.
    private func failure() -> MagmaError {
        let bytes = UnsafeMutableRawBufferPointer(rebasing: replies.mapping[0..<512])
        let length = Int(UInt32(littleEndian: bytes.load(as: UInt32.self)))
        guard length >= MessageHeader.byteCount, length <= 512,
              case .statusReply(let reply)? = try? VirtioContextProtocol.ServerMessage.decode(bytes: Array(bytes[0..<length])).message,
              reply.status != .ok else {
            return MagmaError(.connectionLost, "the virtio context has ended")
        }
        return MagmaError(reply.status, reply.reason)
    }
}
