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

    /// A path's slot and how many opens are using it now (a slot in use is never dropped, so
    /// a guest being made is never orphaned).
    private struct Entry {
        let slot: Slot
        var opening: Int
    }

    private static let slots = Locked<[String: Entry]>([:])
    /// What keys the guests without CONTEXT_INIT apart from those of the same path with it.
    private static let oneTimelinePrefix = "\u{0}one-timeline:"

    /// A new open of the guest at `path`: a context of its own, sharing the guest's socket and
    /// memory. A guest with `contextInit: false` (a device without CONTEXT_INIT) is another guest
    /// of the same path, as another VM would be.
    public static func open(path: String, contextInit: Bool = true) throws(MagmaError) -> VirtGPUSocketDevice {
        let key = contextInit ? path : oneTimelinePrefix + path
        let slot = slots.withLock { slots in
            // Paths whose guests are gone (and that no open is using) are dropped as the table is used.
            slots = slots.filter { $0.key == key || $0.value.opening > 0 || $0.value.slot.current.withLock { $0.guest != nil } }
            var entry = slots[key] ?? Entry(slot: Slot(), opening: 0)
            entry.opening += 1
            slots[key] = entry
            return entry.slot
        }
        defer { slots.withLock { slots in slots[key]?.opening -= 1 } }
        return try slot.making.withLock { _ throws(MagmaError) -> VirtGPUSocketDevice in
            if let guest = slot.current.withLock({ $0.guest }), guest.isUsable, let device = try? VirtGPUSocketDevice(guest: guest) {
                return device
            }
            let guest = try VirtGPUSocketGuest(path: path, contextInit: contextInit)
            let device = try VirtGPUSocketDevice(guest: guest)
            slot.current.withLock { $0.guest = guest }
            return device
        }
    }

    /// The guest a new open of `path` would join now, if there is a usable one.
    public static func guest(path: String) -> VirtGPUSocketGuest? {
        guard let slot = slots.withLock({ $0[path]?.slot }), let guest = slot.current.withLock({ $0.guest }), guest.isUsable else { return nil }
        return guest
    }
}
