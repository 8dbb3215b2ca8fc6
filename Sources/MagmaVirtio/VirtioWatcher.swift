import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaWire
import SystemPackage

/// The guest side's one thread per connection: it keeps the connection's waits armed on the
/// host and waits (poll, no busy loop) for their fences: the standing `watch_failure` (the
/// connection's failure, recorded as its sticky error; or the socket's hang-up,
/// CONNECTION_LOST), the pending `read_notification` (`VirtioNotifications`), each semaphore
/// mirror's `wait_semaphores` watch (the mirror is then signaled), the completion semaphore of
/// work that waited on semaphores (their mirrors are then checked against the host, as the
/// work reset them) and the timeline waits of `VirtioWaitRings`.
///
/// Each wait has a reply slot of its own (`VirtioReplySlots`). A wait whose reply is
/// `preempted_reply` (a later fence of its timeline completed first: the host never holds a
/// fence behind a wait, which is what lets every fence share one timeline on a device without
/// CONTEXT_INIT) is submitted again, by this thread, so the connection sees the same outcomes
/// as if it had waited on. Re-arming submits only waits, never a call, so preemptions end.
final class VirtioWatcher: Sendable {
    static let watchRing: UInt8 = 2
    static let workRing: UInt8 = 1
    static let failureRing: UInt8 = 3

    /// What a wait is for, and so what its outcome does.
    enum Purpose: Sendable {
        case failure
        /// A watch of `semaphore`'s host state, armed at its mirror's `epoch`.
        case semaphore(VirtioSemaphore, epoch: UInt64)
        /// Work that waited on `waited` signals `completion` (a host semaphore of its own).
        case work(completion: ObjectId, waited: [VirtioSemaphore])
        case timeline(VirtioTimelineArm)
    }

    /// One wait kept armed: the command (its reply area is `slot`'s), the ring, the fence.
    private struct Armed {
        let purpose: Purpose
        let command: VirtioContextProtocol.ClientMessage
        let ring: UInt8
        let slot: VirtioReplySlot
        var fence: any VirtGPUFence
    }

    private struct State {
        var waits: [UInt64: Armed] = [:]
        /// The token of each semaphore's pending watch.
        var semaphoreWatches: [ObjectIdentifier: UInt64] = [:]
        /// Waits not to be submitted again: their object was released (a re-armed wait naming
        /// a released object would fail the context).
        var retired: Set<UInt64> = []
        var nextToken: UInt64 = 1
        var stopped = false
    }

    private let state = Locked(State())
    private let wake: EventSemaphore
    /// Signaled once the thread has ended: it then touches no resource mapping of the device.
    private let ended: EventSemaphore
    /// The thread's own id, so a stop from the thread itself does not wait for it.
    private let thread = Locked<pthread_t?>(nil)
    private let device: any VirtGPUDevice
    private let hangupDescriptor: FileDescriptor
    private let slots: VirtioReplySlots
    /// The connection's driver notifications, whose read fence this thread polls.
    let notifications: VirtioNotifications
    private let onFailure: @Sendable (MagmaError) -> Void
    private let resync: @Sendable ([VirtioSemaphore]) -> Void

    /// Arms the failure watch and the first notification read and starts the thread.
    /// `hangupDescriptor` polls POLLHUP once the host has gone (-1: never).
    init(device: any VirtGPUDevice, hangupDescriptor: FileDescriptor, onFailure: @escaping @Sendable (MagmaError) -> Void,
         resync: @escaping @Sendable ([VirtioSemaphore]) -> Void) throws(MagmaError) {
        self.device = device
        self.hangupDescriptor = hangupDescriptor
        self.onFailure = onFailure
        self.resync = resync
        slots = VirtioReplySlots(device: device)
        do {
            wake = try EventSemaphore()
            ended = try EventSemaphore()
        } catch { throw .internalError("watcher: \(error)") }
        notifications = try VirtioNotifications(device: device)
        try arm(.failure, ring: Self.failureRing) { .watchFailure(.init(reply: $0)) }
        do { try HostThread.spawn(name: "virtio.watch") { [self] in run() } } catch { throw .internalError("watcher thread: \(error)") }
    }

    /// Arms a wait: a slot, the command submitted fenced on `ring`; its token. `refused`
    /// (asked under the state's lock) turns it down: nil then.
    @discardableResult
    private func arm(_ purpose: Purpose, ring: UInt8, unless refused: (State) -> Bool = { _ in false },
                     _ make: (GuestReplyArea) -> VirtioContextProtocol.ClientMessage) throws(MagmaError) -> UInt64? {
        let token = try state.withLock { state throws(MagmaError) -> UInt64? in
            guard !state.stopped else { throw MagmaError(.connectionLost, "the virtio connection was closed") }
            guard !refused(state) else { return nil }
            let slot = try slots.take()
            let command = make(slot.area)
            let fence: any VirtGPUFence
            do throws(MagmaError) { fence = try submit(command, ring: ring) } catch {
                slots.give(slot)
                throw error
            }
            defer { state.nextToken += 1 }
            state.waits[state.nextToken] = Armed(purpose: purpose, command: command, ring: ring, slot: slot, fence: fence)
            if case .semaphore(let semaphore, _) = purpose { state.semaphoreWatches[ObjectIdentifier(semaphore)] = state.nextToken }
            return state.nextToken
        }
        wake.signal()
        return token
    }

    private func submit(_ command: VirtioContextProtocol.ClientMessage, ring: UInt8) throws(MagmaError) -> any VirtGPUFence {
        let payload: [UInt8]
        do { payload = try VirtioContextCommand.payload([.virtio(command)]) } catch { throw .internalError("\(error)") }
        return try device.submit(payload, onFenceRing: ring)
    }

    /// Arms a watch for `semaphore` (its mirror is unsignaled) unless one is pending or it was
    /// released (`unwatch`: a wait naming a released semaphore would fail the context).
    func watch(_ semaphore: VirtioSemaphore) {
        let key = ObjectIdentifier(semaphore)
        _ = try? arm(.semaphore(semaphore, epoch: semaphore.mirrorEpoch), ring: Self.watchRing,
                     unless: { $0.semaphoreWatches[key] != nil || semaphore.isUnwatched.withLock { $0 } }) {
            .waitSemaphores(.init(semaphoreIds: [semaphore.id], waitAll: true, reply: $0))
        }
    }

    /// `semaphore` is being released: its watch is not submitted again. Called before the
    /// release is sent, so a watch armed before it is applied before it (and ends, satisfied).
    func unwatch(_ semaphore: VirtioSemaphore) {
        state.withLock { state in
            semaphore.isUnwatched.withLock { $0 = true }
            if let token = state.semaphoreWatches.removeValue(forKey: ObjectIdentifier(semaphore)) { state.retired.insert(token) }
        }
    }

    /// Timeline `id` is being released: its waits are not submitted again (as `unwatch`).
    func unwatchTimeline(_ id: ObjectId) {
        state.withLock { state in
            for (token, wait) in state.waits {
                if case .timeline(let timelineArm) = wait.purpose, timelineArm.timelineId == id { state.retired.insert(token) }
            }
        }
    }

    /// Work that waited on `waited` and signals host semaphore `completion` when it has run:
    /// their mirrors are checked once it completes, and the completion semaphore released.
    func track(completion: ObjectId, waited: [VirtioSemaphore]) throws(MagmaError) {
        try arm(.work(completion: completion, waited: waited), ring: Self.workRing) {
            .waitSemaphores(.init(semaphoreIds: [completion], waitAll: true, reply: $0))
        }
    }

    /// Arms a `wait_timeline` for `point` on `ring`: `timelineArm.ready` is signaled once it has ended.
    func watchTimeline(_ timelineArm: VirtioTimelineArm, point: UInt64, ring: UInt8) throws(MagmaError) {
        timelineArm.token = try arm(.timeline(timelineArm), ring: ring) {
            .waitTimeline(.init(timelineId: timelineArm.timelineId, point: point, waitId: timelineArm.waitId, reply: $0))
        } ?? 0
    }

    /// The timeline wait is no longer wanted: it is not armed again, and its host wait is
    /// cancelled (`cancel_timeline_wait`, after the submission armed now); its slot is given
    /// back once the host has answered it.
    func cancel(_ timelineArm: VirtioTimelineArm) {
        let pending = state.withLock { state -> Bool in
            guard state.waits[timelineArm.token] != nil else { return false }
            timelineArm.cancelled.withLock { $0 = true }
            return true
        }
        guard pending, let payload = try? VirtioContextCommand.payload([.virtio(.cancelTimelineWait(.init(waitId: timelineArm.waitId)))]) else {
            return
        }
        _ = try? device.submit(payload, fenceOnRing: nil)
    }

    /// Ends the thread and waits for it to end, at most `timeoutNanoseconds` (not when called
    /// from the thread itself), so the device's resources may then be unmapped (a kernel
    /// device's mappings go with them); the semaphores it watched are let go.
    func stop(timeoutNanoseconds: UInt64 = 2_000_000_000) {
        let waits = state.withLock { state in
            state.stopped = true
            defer {
                state.waits = [:]
                state.semaphoreWatches = [:]
            }
            return state.waits
        }
        wake.signal()
        if let thread = thread.withLock({ $0 }), pthread_equal(thread, pthread_self()) != 0 { return }
        _ = ended.wait(timeoutNanoseconds: timeoutNanoseconds)
        withExtendedLifetime(waits) {}
    }

    private func run() {
        thread.withLock { $0 = pthread_self() }
        defer { ended.signal() }
        var failureSeen = false
        while true {
            wake.reset()
            let (stopped, waits) = state.withLock { ($0.stopped, $0.waits) }
            if stopped { return }
            let watched = waits.filter { entry in
                if case .failure = entry.value.purpose { return !failureSeen }
                return true
            }.map { ($0.key, $0.value) }
            var requests = [PollRequest(descriptor: wake.descriptor.fileDescriptor)]
            if !failureSeen { requests.append(PollRequest(descriptor: hangupDescriptor, events: 0)) }
            requests += watched.map { PollRequest(descriptor: $0.1.fence.pollDescriptor) }
            let notificationFence = notifications.fence
            if let notificationFence { requests.append(PollRequest(descriptor: notificationFence.pollDescriptor)) }
            guard let ready = try? Poller.poll(requests, timeoutNanoseconds: Poller.forever) else { return }
            if state.withLock({ $0.stopped }) { return }
            var index = 1
            if !failureSeen {
                if ready[index] {
                    // The host has gone without completing the failure watch, or its reads.
                    failureSeen = true
                    onFailure(MagmaError(.connectionLost, "the virtio host has gone"))
                    notifications.end()
                }
                index += 1
            }
            var ended: [(Purpose, VirtioContextProtocol.ServerMessage?)] = []
            for (token, wait) in watched {
                defer { index += 1 }
                guard ready[index] else { continue }
                let reply = wait.slot.reply
                if case .preemptedReply? = reply, rearm(token) { continue }
                state.withLock { state in
                    state.waits[token] = nil
                    state.retired.remove(token)
                    if case .semaphore(let semaphore, _) = wait.purpose, state.semaphoreWatches[ObjectIdentifier(semaphore)] == token {
                        state.semaphoreWatches[ObjectIdentifier(semaphore)] = nil
                    }
                }
                slots.give(wait.slot)
                ended.append((wait.purpose, reply))
            }
            // The failure first: the host completes a failure's watch before the channel's end.
            for (purpose, reply) in ended where Self.isFailure(purpose) {
                failureSeen = true
                onFailure(Self.error(in: reply) ?? MagmaError(.connectionLost, "the virtio context has ended"))
            }
            if notificationFence != nil, ready[requests.count - 1] { notifications.completed() }
            for (purpose, reply) in ended { finish(purpose, ok: Self.error(in: reply) == nil) }
        }
    }

    /// Submits a preempted wait again (the same command and slot); false if it is not to be
    /// (stopped, a cancelled timeline wait, a transport failure): it then ends.
    private func rearm(_ token: UInt64) -> Bool {
        state.withLock { state in
            guard !state.stopped, !state.retired.contains(token), var wait = state.waits[token] else { return false }
            if case .timeline(let timelineArm) = wait.purpose, timelineArm.cancelled.withLock({ $0 }) { return false }
            wait.slot.clear()
            guard let fence = try? submit(wait.command, ring: wait.ring) else { return false }
            wait.fence = fence
            state.waits[token] = wait
            return true
        }
    }

    private func finish(_ purpose: Purpose, ok: Bool) {
        switch purpose {
        case .failure: break
        // A watch that ended because the context failed (its reply says so) signals nothing.
        // A watch armed before the mirror was last reset saw a signal that reset undid: it
        // signals nothing (the mirror would say signaled while the host does not), and a
        // watch of the mirror's present epoch is armed in its place.
        case .semaphore(let semaphore, let epoch): if ok, !semaphore.signalMirror(ifEpoch: epoch) { watch(semaphore) }
        case .work(let completion, let waited):
            if let payload = try? VirtioContextCommand.payload([.primary(.releaseObject(.init(objectId: completion, objectType: .semaphore)))]) {
                _ = try? device.submit(payload, fenceOnRing: nil)
            }
            if ok { resync(waited) }
        case .timeline(let timelineArm): timelineArm.ready.signal()
        }
    }

    private static func isFailure(_ purpose: Purpose) -> Bool { if case .failure = purpose { true } else { false } }

    /// The error a status reply carries; nil for ok. A reply that is missing or of another
    /// kind is CONNECTION_LOST (the context ended without writing one).
    private static func error(in reply: VirtioContextProtocol.ServerMessage?) -> MagmaError? {
        guard case .statusReply(let status)? = reply else { return MagmaError(.connectionLost, "the virtio context has ended") }
        return status.status == .ok ? nil : MagmaError(status.status, status.reason)
    }
}

/// One timeline wait of `VirtioWaitRings`, kept armed by the watcher: `ready` is signaled once
/// its host wait has ended (reached, failed, released or cancelled; never for a preemption).
final class VirtioTimelineArm: Sendable {
    let timelineId: ObjectId
    let waitId: ObjectId
    let ready: EventSemaphore
    let cancelled = Locked(false)
    private let tokenStore = Locked<UInt64>(0)

    init(timelineId: ObjectId, waitId: ObjectId) throws(MagmaError) {
        self.timelineId = timelineId
        self.waitId = waitId
        do { ready = try EventSemaphore() } catch { throw .internalError("timeline wait: \(error)") }
    }

    /// The watcher's token for it (set once it is armed).
    var token: UInt64 {
        get { tokenStore.withLock { $0 } }
        set { tokenStore.withLock { $0 = newValue } }
    }
}
