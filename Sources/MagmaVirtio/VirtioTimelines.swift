import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaWire
import SystemPackage

/// A timeline semaphore of a virtio connection: made on the host (`create_timeline`). Its value
/// and failure are calls (`get_timeline_state`), a CPU signal is a call (`signal_timeline`:
/// INVALID_ARGS for a point not above the value comes back from `signal(to:)`), and a watch is
/// a fenced `wait_timeline` on a fence ring of its own (`VirtioWaitRings`).
final class VirtioTimeline: BackendTimeline, Sendable {
    let id: ObjectId
    private let connection: VirtioConnection
    /// The value the host last answered: what `value` says once the connection has failed.
    private let lastValue: Locked<UInt64>

    init(id: ObjectId, initialValue: UInt64, connection: VirtioConnection) {
        self.id = id
        self.connection = connection
        lastValue = Locked(initialValue)
    }

    private func state() throws(MagmaError) -> VirtioContextProtocol.TimelineStateReply {
        guard case .timelineStateReply(let reply) = try connection.calls.call({ .getTimelineState(.init(timelineId: id, reply: $0)) }) else {
            throw .internalError("expected timeline_state_reply")
        }
        guard reply.status == .ok else { throw MagmaError(reply.status, reply.reason) }
        lastValue.withLock { $0 = reply.value }
        return reply
    }

    /// Asks the host; a connection that has failed answers the last value it saw.
    var value: UInt64 {
        do { return try state().value } catch {
            connection.fail(error)
            return lastValue.withLock { $0 }
        }
    }

    /// Asks the host; a connection that has failed answers its error (what every wait then ends with).
    var failure: MagmaError? {
        do {
            let state = try state()
            return state.failure == .ok ? nil : MagmaError(state.failure, state.reason)
        } catch {
            connection.fail(error)
            return connection.error ?? error
        }
    }

    func signal(to point: UInt64) throws(MagmaError) {
        try connection.calls.statusCall { .signalTimeline(.init(timelineId: id, point: point, reply: $0)) }
    }

    /// Shared with the guest's other connections (`export_object`): the descriptor names the share.
    func export() throws(MagmaError) -> OwnedFileDescriptor { try connection.exportTimeline(id) }

    func watch(for point: UInt64) throws(MagmaError) -> any BackendTimelineWatch {
        try connection.waitRings.watch(timelineId: id, point: point, connection: connection)
    }
}

/// The fence rings of a connection's timeline waits. Fences on one ring complete in order, so
/// each pending wait has a ring of its own: a wait for a late point never holds back one for
/// an early point. A watch released before its point is reached cancels its host wait
/// (`cancel_timeline_wait`) before it gives its ring back, so the next wait on that ring is
/// never behind it for long. At most `rings.count` waits at once: MEMORY_ERROR past them.
final class VirtioWaitRings: Sendable {
    /// Rings 0-4 are the connection's own (`VirtioCalls`, `VirtioWatcher`, `VirtioNotifications`);
    /// these are the rest.
    static let rings: Range<UInt8> = (VirtioCalls.watcherRing + 1)..<UInt8(VirtioGPU.maxRings)
    /// How many rings a connection's context is made with.
    static var ringCount: Int { Int(rings.upperBound) }
    private let free = Locked(Array(rings.reversed()))

    /// Arms a `wait_timeline` for `point` on a free ring (the watcher keeps it armed).
    func watch(timelineId: ObjectId, point: UInt64, connection: VirtioConnection) throws(MagmaError) -> any BackendTimelineWatch {
        guard let ring = free.withLock({ $0.popLast() }) else {
            throw .memoryError("more than \(Self.rings.count) timeline waits at once on one virtio connection")
        }
        do {
            let arm = try VirtioTimelineArm(timelineId: timelineId, waitId: connection.takeId())
            try connection.watcher.watchTimeline(arm, point: point, ring: ring)
            return VirtioTimelineWatch(arm: arm, ring: ring, rings: self, watcher: connection.watcher)
        } catch {
            free.withLock { $0.append(ring) }
            connection.fail(error)
            throw connection.error ?? error
        }
    }

    fileprivate func giveBack(_ ring: UInt8) { free.withLock { $0.append(ring) } }
}

/// One pending `wait_timeline`: polls readable once the host wait ended (the watcher submits
/// it again while it is preempted). Released before then, it cancels the host wait.
final class VirtioTimelineWatch: BackendTimelineWatch, Sendable {
    private let arm: VirtioTimelineArm
    private let ring: UInt8
    private let rings: VirtioWaitRings
    private let watcher: VirtioWatcher

    fileprivate init(arm: VirtioTimelineArm, ring: UInt8, rings: VirtioWaitRings, watcher: VirtioWatcher) {
        self.arm = arm
        self.ring = ring
        self.rings = rings
        self.watcher = watcher
    }

    deinit {
        if !arm.ready.isSignaled { watcher.cancel(arm) }
        rings.giveBack(ring)
    }

    var pollDescriptor: FileDescriptor { arm.ready.descriptor.fileDescriptor }
}
