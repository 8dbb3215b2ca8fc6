import Magma
import MagmaPlatform
import MagmaRing

extension VirtioDeviceModel {
    /// Starts the guest's ring consumer thread (once its first ring exists) and wakes it: a
    /// SUBMIT_3D of a context with rings (`wake_rings`, a new ring) means there may be records.
    /// Called under the model's lock, for `context`'s SUBMIT_3D.
    func startRings(for context: HostContext) {
        // The passes capture the state, not the model: the thread never keeps the model alive.
        let state = state, device = device, shares = shares, sleeper = rings.wakeup, maxRingBytes = limits.maxRingBytes
        let everyRing = { @Sendable (body: (HostContext) -> Void) in
            state.withLock { state in for context in state.contexts.values where !context.rings.isEmpty { body(context) } }
        }
        do {
            try rings.start(HostRingConsumer.Rings(
                drain: {
                    state.withLock { state in
                        var drained = 0
                        for context in state.contexts.values where !context.rings.isEmpty {
                            var scope = CommandScope(resources: state.resources, device: device, shares: shares, pending: nil,
                                                     ringSleeper: sleeper, maxRingBytes: maxRingBytes)
                            drained += context.drainRings(&scope)
                        }
                        return drained
                    }
                },
                setStatus: { status in everyRing { context in for ring in context.rings.all { ring.consumer.setStatus(status) } } },
                announceSleep: {
                    var empty = true
                    everyRing { context in for ring in context.rings.all where !ring.consumer.announceSleep() { empty = false } }
                    return empty
                }))
        } catch {
            // No thread: the rings would be drained only by SUBMIT_3Ds, and a guest waiting for
            // room without sending one would wait; fail the context instead (the next retries).
            context.connection.fail(error)
        }
        rings.wake()
    }
}
