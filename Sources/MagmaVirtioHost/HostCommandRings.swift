import Magma
import MagmaGuestMemory
import MagmaProtocol
import MagmaRing
import MagmaWire

/// One shared-memory command ring of a context (`create_ring`): a MagmaRing consumer over the
/// host's view of the guest pages of its resource (used in place, no copy). Read and changed
/// under the device model's lock only; the view stays mapped while the ring holds it.
final class CommandRing: @unchecked Sendable {
    let kind: VirtioRingKind
    let resourceId: UInt32
    let consumer: RingConsumer
    /// Whether a drain of this ring is under way (a record of it being applied): a record of
    /// the other ring that needs more of this one then depends on a later record (a cycle).
    var isDraining = false
    private let pages: GuestPages

    init(kind: VirtioRingKind, resourceId: UInt32, pages: GuestPages, offset: Int, size: Int,
         sleeper: any RingSleeper) throws(RingError) {
        self.kind = kind
        self.resourceId = resourceId
        self.pages = pages
        consumer = try RingConsumer(region: RingRegion(UnsafeMutableRawBufferPointer(rebasing: pages.bytes[offset..<(offset + size)])),
                                    sleeper: sleeper)
    }
}

/// The command rings of one context: at most one creation ring and one queue ring.
struct ContextRings {
    var creation: CommandRing?
    var queue: CommandRing?

    /// The rings it has, creation first.
    var all: [CommandRing] { [creation, queue].compactMap { $0 } }

    /// Whether it has no ring (no array made: the consumer thread asks on every pass).
    var isEmpty: Bool { creation == nil && queue == nil }
}

extension HostContext {
    /// Sets up a ring (`create_ring`) over a range of a resource attached to this context.
    /// Refusals (a second ring of the kind, a range outside the resource, past the size limit,
    /// a header that is not a formatted ring) are INVALID_ARGS in the reply and leave the context usable.
    func createRing(_ m: VirtioContextProtocol.CreateRing, _ scope: CommandScope) throws(MagmaError) {
        let reply = try target(m.reply, scope)
        do { try attachRing(m, scope) } catch {
            return try reply.writeStatus(error)
        }
        try reply.writeStatus(nil)
    }

    private func attachRing(_ m: VirtioContextProtocol.CreateRing, _ scope: CommandScope) throws(MagmaError) {
        guard let sleeper = scope.ringSleeper else { throw .invalidArgs("this device offers no command rings") }
        let existing = m.kind == .creation ? rings.creation : rings.queue
        guard existing == nil else { throw .invalidArgs("context \(id) already has a \(m.kind) ring") }
        let resource = try attachedResource(m.resourceId, scope)
        guard let pages = resource.backing else { throw .invalidArgs("ring: resource \(m.resourceId) has no backing") }
        let offset = Int(m.offset), size = Int(m.size)
        guard offset % 8 == 0, offset <= pages.size, size <= pages.size - offset else {
            throw .invalidArgs("ring \(offset)+\(size) outside resource \(m.resourceId) of \(pages.size) bytes")
        }
        guard size <= scope.maxRingBytes else { throw .invalidArgs("ring of \(size) bytes: past the limit of \(scope.maxRingBytes)") }
        let ring: CommandRing
        do { ring = try CommandRing(kind: m.kind, resourceId: m.resourceId, pages: pages, offset: offset, size: size, sleeper: sleeper) } catch {
            throw .invalidArgs("ring in resource \(m.resourceId): \(error)")
        }
        if m.kind == .creation { rings.creation = ring } else { rings.queue = ring }
    }

    /// Applies every record the context's rings hold now, in the order the guest wrote them
    /// across both rings: each record names the other ring's seqno it follows (`depends_on`),
    /// and a record runs only once the other ring has applied that seqno, so the creation ring
    /// is drained first but a creation never overtakes a queue record written before it (a
    /// release that frees a family's slot, say). Returns how many records it drained. A ring
    /// that breaks the layout, or a record depending on a seqno the guest has not submitted or
    /// on a record written after it (a cycle), fails the context and the ring is dropped; a
    /// failed context's records are drained and skipped.
    @discardableResult
    func drainRings(_ scope: inout CommandScope) -> Int {
        var drained = 0
        if let creation = rings.creation { drained += drain(creation, &scope) }
        if let queue = rings.queue { drained += drain(queue, &scope) }
        return drained
    }

    /// Drops the rings held in `resourceId` (detached, unreferenced, or no longer attached to
    /// this context): the context fails, as its guest pulled the memory from under them.
    func dropRings(inResource resourceId: UInt32, _ what: String) {
        let hit = rings.all.filter { $0.resourceId == resourceId }
        guard !hit.isEmpty else { return }
        for ring in hit { drop(ring) }
        connection.fail(.badState("context \(id): the resource \(resourceId) of its \(hit.map { "\($0.kind)" }.joined(separator: " and ")) ring was \(what) while in use"))
    }

    private func drop(_ ring: CommandRing) {
        if ring === rings.creation { rings.creation = nil }
        if ring === rings.queue { rings.queue = nil }
    }

    private func drain(_ ring: CommandRing, through last: UInt64 = .max, _ scope: inout CommandScope) -> Int {
        var failure: MagmaError?
        let drained: Int
        ring.isDraining = true
        defer { ring.isDraining = false }
        do {
            drained = try ring.consumer.drainAvailable(through: last) { record in
                guard failure == nil else { return }
                failure = apply(record, of: ring, &scope)
            }
        } catch {
            drop(ring)
            connection.fail(.invalidArgs("context \(id): \(ring.kind) ring: \(error)"))
            return 0
        }
        if let failure { connection.fail(failure) }
        return drained
    }

    /// Applies one record's commands; returns the error that fails the context, if any.
    private func apply(_ record: RingRecord, of ring: CommandRing, _ scope: inout CommandScope) -> MagmaError? {
        if let dependencyError = waitForDependency(record, of: ring, &scope) { return dependencyError }
        return applyDecoding(record.payload, onRing: ring.kind, "\(ring.kind) ring record \(record.seqno)", &scope)
    }

    /// Applies the commands of one payload as each is decoded from it (no copy of the payload,
    /// no array of its commands); those before a malformed message, or before a command that
    /// does not travel on the ring `kind` (nil: any), are applied, then the context fails.
    /// Returns the error that fails the context, if any; `what` names the payload in it.
    func applyDecoding(_ payload: UnsafeRawBufferPointer, onRing kind: VirtioRingKind?, _ what: @autoclosure () -> String,
                       _ scope: inout CommandScope) -> MagmaError? {
        var failure: MagmaError?
        let decodeError = VirtioContextCommand.forEach(in: payload) { command in
            guard connection.error == nil else { return false }
            if let kind, command.ringKind != kind {
                failure = .invalidArgs("context \(id): \(command) does not travel on a \(kind) ring")
                return false
            }
            do throws(MagmaError) { try apply(command, &scope) } catch {
                failure = error
                return false
            }
            return true
        }
        if let failure { return failure }
        if let decodeError { return .invalidArgs("context \(id): \(what()): \(decodeError)") }
        return nil
    }

    /// A record runs only after the other ring's seqno it names. The guest publishes that
    /// record before the one that names it, so it is visible by now: drain the other ring as far
    /// as that seqno (no further: later records there may depend on this one). A seqno still
    /// not applied was never submitted (a lie); one the other ring is applying now, its drain
    /// being what led here, was written after this record (a cycle): either fails the context.
    private func waitForDependency(_ record: RingRecord, of ring: CommandRing, _ scope: inout CommandScope) -> MagmaError? {
        guard record.dependsOn != 0 else { return nil }
        let otherKind: VirtioRingKind = ring.kind == .queue ? .creation : .queue
        // Made only for an error: the interpolation of a kind goes through reflection,
        // tens of thousands of instructions a record.
        func what() -> String { "context \(id): \(ring.kind) ring record \(record.seqno) depends on \(otherKind) seqno \(record.dependsOn)" }
        guard let other = ring.kind == .queue ? rings.creation : rings.queue else {
            return .invalidArgs("\(what()), with no \(otherKind) ring to wait for")
        }
        if other.consumer.completedSeqno < record.dependsOn {
            guard !other.isDraining else {
                return .invalidArgs("\(what()), a record written after it (completed: \(other.consumer.completedSeqno))")
            }
            _ = drain(other, through: record.dependsOn, &scope)
        }
        guard other.consumer.completedSeqno >= record.dependsOn else {
            return .invalidArgs("\(what()), which the guest has not submitted (completed: \(other.consumer.completedSeqno))")
        }
        return nil
    }
}
