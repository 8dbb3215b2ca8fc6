import Synchronization
import MagmaPlatform
import MagmaProtocol
import MagmaRing
import MagmaWire

/// The shared-memory command rings of one connection: one resource of guest pages holding a
/// creation ring and a queue ring (MagmaRing layout, docs/rings.md), set up with `create_ring`,
/// which the host maps in place and drains on a consumer thread. Feed-forward commands go there
/// as records: creations on the creation ring, everything else on the queue ring, each record's
/// depends-on being the other ring's last seqno, so the host applies them in the order written. A record makes no system call unless the host
/// consumer said ASLEEP: then one unfenced SUBMIT_3D of `wake_rings` wakes it, sent after the
/// ring lock is let go (no lock is held while the host is asked anything).
public final class VirtioRingTransport: Sendable {
    /// Body bytes of each ring: room for the largest SUBMIT_3D payload the host takes.
    public static let ringSize = 1 << 16
    /// Bytes of each ring's region, whole pages.
    static let regionBytes = SharedMemory.pageAligned(UInt64(RingLayout.regionSize(ringSize: ringSize))).map(Int.init)!
    /// How long one wait for room lasts before the connection's health is looked at again.
    static let roomCheckNanoseconds: UInt64 = 10_000_000

    private let device: any VirtGPUDevice
    private let resource: any VirtGPUResource
    private let producers: Locked<Producers>
    private let doorbell: PendingPing

    private struct Producers: @unchecked Sendable {
        let creation: RingProducer
        let queue: RingProducer
    }

    /// The rings of `device`'s context, with calls of their own (a reply resource); for a
    /// transport used without a `VirtioConnection` (the bench).
    public convenience init(device: any VirtGPUDevice) throws(MagmaError) {
        try self.init(device: device, calls: VirtioCalls(device: device, ring: VirtioCalls.callRing))
    }

    /// Makes the ring resource, formats both rings and sets them up on the host.
    init(device: any VirtGPUDevice, calls: VirtioCalls) throws(MagmaError) {
        self.device = device
        resource = try device.createResource(size: 2 * Self.regionBytes)
        doorbell = PendingPing()
        do {
            let creation = try Self.ring(.creation, in: resource, calls: calls, doorbell: doorbell)
            let queue = try Self.ring(.queue, in: resource, calls: calls, doorbell: doorbell)
            producers = Locked(Producers(creation: creation, queue: queue))
        } catch {
            try? device.release(resource)
            throw error
        }
    }

    private static func ring(_ kind: VirtioRingKind, in resource: any VirtGPUResource, calls: VirtioCalls,
                             doorbell: PendingPing) throws(MagmaError) -> RingProducer {
        let offset = kind == .creation ? 0 : regionBytes
        let producer: RingProducer
        do {
            let region = try RingRegion(UnsafeMutableRawBufferPointer(rebasing: resource.mapping[offset..<(offset + regionBytes)]))
            try region.format(ringSize: ringSize)
            producer = try RingProducer(region: region, doorbell: doorbell)
        } catch { throw .internalError("\(kind) ring: \(error)") }
        try calls.statusCall {
            .createRing(.init(kind: kind, resourceId: resource.resourceId, offset: UInt32(offset), size: UInt32(regionBytes), reply: $0))
        }
        return producer
    }

    /// Writes `commands` as one record of the ring their kind travels on. False if they go in
    /// a SUBMIT_3D instead (a payload larger than a record, or a mix of kinds); throws the
    /// connection's error (`health`) if the ring stays full while the connection fails.
    public func submit(_ commands: [VirtioContextCommand], health: () -> MagmaError?) throws(MagmaError) -> Bool {
        guard let kind = commands.first?.ringKind, commands.allSatisfy({ $0.ringKind == kind }) else { return false }
        let creation = kind == .creation
        let payload: [UInt8]
        do { payload = try VirtioContextCommand.payload(commands) } catch { throw .invalidArgs("\(error)") }
        guard payload.count <= RingLayout.maximumPayload(ringSize: Self.ringSize) else { return false }
        try producers.withLock { rings throws(MagmaError) in
            let ring = creation ? rings.creation : rings.queue
            let dependsOn = creation ? rings.queue.submittedSeqno : rings.creation.submittedSeqno
            while true {
                let outcome = payload.withUnsafeBytes { bytes in
                    Result { () throws(RingError) in try ring.submit(bytes, dependsOn: dependsOn, timeoutNanoseconds: Self.roomCheckNanoseconds) }
                }
                switch outcome {
                case .success: return
                case .failure(.timedOut): if let error = health() { throw error }
                case .failure(let error): throw MagmaError(.connectionLost, "command ring: \(error)")
                }
            }
        }
        if doorbell.take() {
            let ping: [UInt8]
            do { ping = try VirtioContextCommand.payload([.virtio(.wakeRings(.init()))]) } catch { throw .internalError("\(error)") }
            _ = try device.submit(ping, fenceOnRing: nil)
        }
        return true
    }

    /// Records that rang the doorbell (each a `wake_rings`), for tests and the bench.
    public var pings: Int { producers.withLock { $0.creation.pings + $0.queue.pings } }

    /// Waits until the host has applied every record submitted so far (both rings), up to
    /// `timeoutNanoseconds`; throws TIMED_OUT past it.
    public func waitApplied(timeoutNanoseconds: UInt64) throws(MagmaError) {
        try producers.withLock { rings throws(MagmaError) in
            for ring in [rings.creation, rings.queue] {
                do { try ring.wait(forCompleted: ring.submittedSeqno, timeoutNanoseconds: timeoutNanoseconds) } catch {
                    throw MagmaError(.timedOut, "command ring: \(error)")
                }
            }
        }
    }
}

/// The rings' doorbell: a producer that found the host ASLEEP marks a ping due; the transport
/// sends it once the ring lock is let go.
private final class PendingPing: RingDoorbell {
    private let due = Atomic<Bool>(false)

    func ring() { due.store(true, ordering: .releasing) }

    /// Whether a ping is due (and clears it).
    func take() -> Bool { due.exchange(false, ordering: .acquiringAndReleasing) }
}
