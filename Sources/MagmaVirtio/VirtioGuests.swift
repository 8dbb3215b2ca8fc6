import MagmaPlatform
import MagmaProtocol

/// The guests of this process, one per socket path, as a VM has one virtio-gpu device that
/// every open of its render node shares: `open(path:)` makes a new device (a context) of the
/// path's guest, making the guest first if there is none or the one there can no longer be
/// used (its last device closed, its socket broke or the host hung up). Guests are held weakly:
/// one whose devices and resources are all gone is dropped.
public enum VirtioGuests {
    /// One path's guest, and the turn to make one (so two opens racing make one guest, and a
    /// slow host delays opens of its own path only).
    private final class Slot: Sendable {
        let making = Locked(())
        let current = Locked(WeakGuest())
    }

    private struct WeakGuest {
        weak var guest: VirtGPUSocketGuest?
    }

    private static let slots = Locked<[String: Slot]>([:])

    /// A new open of the guest at `path`: a context of its own, sharing the guest's socket and RAM.
    public static func open(path: String) throws(MagmaError) -> VirtGPUSocketDevice {
        let slot = slots.withLock { slots in
            // Paths whose guests are gone are dropped as the table is used.
            slots = slots.filter { $0.key == path || $0.value.current.withLock { $0.guest != nil } }
            if let slot = slots[path] { return slot }
            let slot = Slot()
            slots[path] = slot
            return slot
        }
        return try slot.making.withLock { _ throws(MagmaError) -> VirtGPUSocketDevice in
            if let guest = slot.current.withLock({ $0.guest }), guest.isUsable, let device = try? VirtGPUSocketDevice(guest: guest) {
                return device
            }
            let guest = try VirtGPUSocketGuest(path: path)
            let device = try VirtGPUSocketDevice(guest: guest)
            slot.current.withLock { $0.guest = guest }
            return device
        }
    }

    /// The guest a new open of `path` would join now, if there is a usable one.
    public static func guest(path: String) -> VirtGPUSocketGuest? {
        guard let slot = slots.withLock({ $0[path] }), let guest = slot.current.withLock({ $0.guest }), guest.isUsable else { return nil }
        return guest
    }
}
