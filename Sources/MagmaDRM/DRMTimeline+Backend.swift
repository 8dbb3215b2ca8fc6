import CMagmaLinux
import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// A timeline syncobj as the backend protocol's timeline: its id is the syncobj handle the
/// kernel made; CPU waits are eventfds the kernel signals when the point's fence signals
/// (SYNCOBJ_EVENTFD, Linux 6.6), including points not yet submitted.
extension DRMTimeline: BackendTimeline {
    public var id: ObjectId { ObjectId(handle) }

    /// The last signaled point (SYNCOBJ_QUERY); 0 once released.
    public var value: UInt64 { (try? signaledPoint()) ?? 0 }

    /// Always nil: no work signals a DRM timeline here (MagmaDRM has no command submission,
    /// docs/drm.md), so none can fail it.
    public var failure: MagmaError? { nil }

    /// A point not above the current one is INVALID_ARGS: the kernel accepts such a point (it
    /// only logs it), so the check is here, serialized with this process's other signals of
    /// the timeline (another process signaling it meanwhile is not excluded).
    public func signal(to point: UInt64) throws(MagmaError) {
        try signaling.withLock { _ throws(MagmaError) in
            let current = try signaledPoint()
            guard point > current else { throw .invalidArgs("timeline point \(point) is not above its value \(current)") }
            try signal(point)
        }
    }

    public func watch(for point: UInt64) throws(MagmaError) -> any BackendTimelineWatch {
        try checkOpen()
        let event = OwnedFileDescriptor(taking: try drmSystemCall("eventfd") { cmagma_eventfd_create() })
        try file.notifyEventFD(event.fileDescriptor, whenSignaled: handle, point: point)
        return DRMTimelineWatch(event: event)
    }
}

/// A wait for one timeline point: an eventfd the kernel signals once the point has signaled.
final class DRMTimelineWatch: BackendTimelineWatch {
    private let event: OwnedFileDescriptor
    init(event: OwnedFileDescriptor) { self.event = event }
    var pollDescriptor: FileDescriptor { event.fileDescriptor }
}
