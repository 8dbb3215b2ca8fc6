import CMagmaDRM
import CMagmaLinux
import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol
import Synchronization
import SystemPackage

/// A binary DRM syncobj as a Magma semaphore: signaled while it holds a signaled fence.
/// `signal()` installs a signaled fence (SYNCOBJ_SIGNAL), `reset()` removes it (SYNCOBJ_RESET),
/// `isSignaled` asks the kernel (a wait that only checks). Its export is an opaque syncobj
/// descriptor that shares the container; `exportSyncFile` and `importSyncFile` move a fence.
///
/// The poll descriptor is an eventfd the kernel signals when the syncobj's fence signals
/// (SYNCOBJ_EVENTFD, Linux 6.6, drivers with timeline syncobjs; elsewhere creating one is
/// UNIMPLEMENTED). A registration fires once, so `reset()` arms a fresh eventfd at the same
/// descriptor number: a fence that was pending before the reset cannot make it readable. One
/// limit is the kernel's: a reset made through another handle of a shared syncobj (another
/// importer) is seen by `isSignaled` here at once, but by this poll descriptor only after this
/// handle's next reset.
public final class DRMSemaphore: BackendSemaphore {
    /// The semaphore's id in its connection.
    public let id: ObjectId
    /// The syncobj handle in the connection's file.
    public let handle: UInt32
    /// One-shot imports stay signaled: `reset()` does nothing.
    public let isOneShot: Bool
    private let file: DRMFile
    private let event: OwnedFileDescriptor
    /// Serializes re-arming the eventfd.
    private let arming = Locked(())
    private let released = Atomic<Bool>(false)

    /// Wraps syncobj `handle` of `file` and arms its poll descriptor.
    init(id: ObjectId, handle: UInt32, isOneShot: Bool, file: DRMFile) throws(MagmaError) {
        self.id = id
        self.handle = handle
        self.isOneShot = isOneShot
        self.file = file
        event = try Self.armedEventFD(file: file, handle: handle)
    }

    private static func armedEventFD(file: DRMFile, handle: UInt32) throws(MagmaError) -> OwnedFileDescriptor {
        let event = OwnedFileDescriptor(taking: try drmSystemCall("eventfd") { cmagma_eventfd_create() })
        try file.notifyEventFD(event.fileDescriptor, whenSignaled: handle)
        return event
    }

    /// Marks the semaphore released; false if it already was.
    func markReleased() -> Bool { !released.exchange(true, ordering: .acquiringAndReleasing) }

    public var isSignaled: Bool {
        guard !released.load(ordering: .acquiring) else { return false }
        return (try? file.waitSyncobjs([handle], all: true, timeoutNanoseconds: 0, forSubmit: false)) != nil
    }

    /// SYNCOBJ_SIGNAL. Nothing happens once released (the handle may name another syncobj).
    public func signal() {
        guard !released.load(ordering: .acquiring) else { return }
        try? file.signalSyncobjs([handle])
    }

    /// SYNCOBJ_RESET, then a fresh eventfd armed at the poll descriptor's number.
    public func reset() {
        guard !isOneShot, !released.load(ordering: .acquiring) else { return }
        try? replaceFence { () throws(MagmaError) in try file.resetSyncobjs([handle]) }
    }

    /// Changes the syncobj's fence by `change`, then arms a fresh eventfd at the poll
    /// descriptor's number (the old registration may have fired for the old fence).
    private func replaceFence(_ change: () throws(MagmaError) -> Void) throws(MagmaError) {
        try arming.withLock { (_) throws(MagmaError) in
            try change()
            guard let fresh = try? Self.armedEventFD(file: file, handle: handle) else { return }
            withExtendedLifetime(fresh) { _ = cmagma_drm_replace_descriptor(fresh.rawValue, event.rawValue) }
        }
    }

    /// An opaque syncobj descriptor: its importers share this syncobj.
    public func export() throws(MagmaError) -> OwnedFileDescriptor {
        guard !released.load(ordering: .acquiring) else { throw .badState("semaphore \(id) was released") }
        return try file.exportSyncobj(handle, syncFile: false)
    }

    /// A sync_file of the current fence, for any driver's syncobj or implicit-fence import.
    /// BAD_STATE while it has none (never signaled, or reset: the kernel's EINVAL).
    public func exportSyncFile() throws(MagmaError) -> OwnedFileDescriptor {
        guard !released.load(ordering: .acquiring) else { throw .badState("semaphore \(id) was released") }
        do {
            return try file.exportSyncobj(handle, syncFile: true)
        } catch where error.status == .invalidArgs && error.systemErrorCode == EINVAL {
            throw MagmaError(.badState, "semaphore \(id) holds no fence: nothing to export", systemErrorCode: EINVAL)
        }
    }

    /// Replaces the fence with a sync_file's (from any driver); the semaphore signals when it
    /// does, and its poll descriptor is re-armed for the new fence. A descriptor that is no
    /// sync_file is INVALID_ARGS and leaves the fence as it was.
    public func importSyncFile(_ syncFile: OwnedFileDescriptor) throws(MagmaError) {
        guard !released.load(ordering: .acquiring) else { throw .badState("semaphore \(id) was released") }
        try replaceFence { () throws(MagmaError) in try file.importSyncFile(syncFile.fileDescriptor, into: handle) }
    }

    /// Waits until signaled (a fence attached later counts) or the timeout passes: TIMED_OUT.
    public func wait(timeoutNanoseconds: UInt64) throws(MagmaError) {
        guard !released.load(ordering: .acquiring) else { throw .badState("semaphore \(id) was released") }
        try file.waitSyncobjs([handle], all: true, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// The eventfd the kernel signals with the syncobj's fence; owned by the semaphore
    /// (borrowed by the caller).
    public var pollDescriptor: FileDescriptor { event.fileDescriptor }
}
