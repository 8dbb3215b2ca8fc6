import Synchronization

/// The seqno a consumer has completed, as the host knows it: the consumer's own count, not the
/// copy in the shared header (which the producer can overwrite). Another host thread reads it,
/// or waits for it, to honour a record's depends-on seqno: a queue ring's consumer holds a
/// submission until the object-creation ring has completed the seqno it names.
public final class RingProgress: Sendable {
    private let completed: Atomic<UInt64>

    init(completed: UInt64) { self.completed = Atomic(completed) }

    /// The seqno of the last record the consumer finished (0 before the first).
    public var completedSeqno: UInt64 { completed.load(ordering: .acquiring) }

    /// Waits until the consumer has finished `seqno` (spinning for `spinNanoseconds`, then in
    /// short sleeps, `RingBackoff`); false if `timeoutNanoseconds` pass first. A depends-on
    /// seqno the producer never submits is its own ring's loss: the owner decides what to do
    /// when this times out.
    public func wait(for seqno: UInt64, spinNanoseconds: UInt64 = RingProducer.defaultSpinNanoseconds,
                     timeoutNanoseconds: UInt64) -> Bool {
        var backoff = RingBackoff(spinNanoseconds: spinNanoseconds)
        while completedSeqno < seqno {
            guard backoff.pause(timeoutNanoseconds: timeoutNanoseconds) else { return false }
        }
        return true
    }

    func advance(to seqno: UInt64) { completed.store(seqno, ordering: .releasing) }
}
