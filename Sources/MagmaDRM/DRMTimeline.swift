import MagmaPlatform
import MagmaProtocol
import Synchronization

/// A timeline DRM syncobj: a 64-bit point that only grows, signaled from the CPU or by GPU
/// work, waited on for any point (even one not yet submitted). Drivers without
/// DRIVER_SYNCOBJ_TIMELINE (vgem; virtio_gpu on Linux 6.1) make none: UNIMPLEMENTED. Magma's
/// Fuchsia-lineage semaphores are binary, so a timeline is a `DRMConnection` object of its own
/// (`createTimeline`), for the Mesa lineage's timeline sync objects to build on, and the DRM
/// backend's `BackendTimeline` (`DRMTimeline+Backend.swift`).
public final class DRMTimeline: Sendable {
    /// The syncobj handle in the connection's file.
    public let handle: UInt32
    let file: DRMFile
    private let released = Atomic<Bool>(false)
    /// Serializes this process's checked CPU signals (`signal(to:)`), which query then signal.
    let signaling = Locked(())

    init(handle: UInt32, file: DRMFile) {
        self.handle = handle
        self.file = file
    }

    func checkOpen() throws(MagmaError) {
        guard !released.load(ordering: .acquiring) else { throw .badState("timeline syncobj \(handle) was released") }
    }

    /// Marks the timeline released; false if it already was.
    func markReleased() -> Bool { !released.exchange(true, ordering: .acquiringAndReleasing) }

    /// Signals `point` (SYNCOBJ_TIMELINE_SIGNAL); a point not above the last is INVALID_ARGS on
    /// kernels that check it.
    public func signal(_ point: UInt64) throws(MagmaError) {
        try checkOpen()
        try file.signalTimelinePoints([handle], points: [point])
    }

    /// The last signaled point (SYNCOBJ_QUERY).
    public func signaledPoint() throws(MagmaError) -> UInt64 {
        try checkOpen()
        return try file.queryTimelinePoints([handle])[0]
    }

    /// Waits until `point` has signaled, or the timeout passes (TIMED_OUT).
    public func wait(for point: UInt64, timeoutNanoseconds: UInt64) throws(MagmaError) {
        try checkOpen()
        try file.waitTimelinePoints([handle], points: [point], all: true, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// An opaque syncobj descriptor: its importers share this timeline.
    public func export() throws(MagmaError) -> OwnedFileDescriptor {
        try checkOpen()
        return try file.exportSyncobj(handle, syncFile: false)
    }
}
