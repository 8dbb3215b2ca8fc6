import CMagmaDRM
import Glibc
import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// The syncobj ioctls. A driver without DRIVER_SYNCOBJ (vgem; virtio_gpu before Linux 6.x's
/// syncobj support) answers every one EOPNOTSUPP: UNIMPLEMENTED.
extension DRMFile {
    /// SYNCOBJ_CREATE: a new syncobj, unsignaled (no fence) or already signaled.
    public func createSyncobj(signaled: Bool = false) throws(MagmaError) -> UInt32 {
        var create = cmagma_drm_syncobj_create(handle: 0, flags: signaled ? cmagma_drm_syncobj_create_signaled : 0)
        try perform(cmagma_drm_ioctl_syncobj_create, "DRM_IOCTL_SYNCOBJ_CREATE", &create)
        return create.handle
    }

    /// SYNCOBJ_DESTROY. A handle that is not open is INVALID_ARGS (EINVAL).
    public func destroySyncobj(_ handle: UInt32) throws(MagmaError) {
        var destroy = cmagma_drm_syncobj_destroy(handle: handle, pad: 0)
        try perform(cmagma_drm_ioctl_syncobj_destroy, "DRM_IOCTL_SYNCOBJ_DESTROY", &destroy, "syncobj \(handle)")
    }

    /// SYNCOBJ_SIGNAL (binary): installs an already signaled fence.
    public func signalSyncobjs(_ handles: [UInt32]) throws(MagmaError) {
        try arrayCall(cmagma_drm_ioctl_syncobj_signal, "DRM_IOCTL_SYNCOBJ_SIGNAL", handles)
    }

    /// SYNCOBJ_RESET (binary): removes the fence.
    public func resetSyncobjs(_ handles: [UInt32]) throws(MagmaError) {
        try arrayCall(cmagma_drm_ioctl_syncobj_reset, "DRM_IOCTL_SYNCOBJ_RESET", handles)
    }

    private func arrayCall(_ request: UInt, _ call: String, _ handles: [UInt32]) throws(MagmaError) {
        var handles = handles
        let code = handles.withUnsafeMutableBufferPointer { buffer in
            var array = cmagma_drm_syncobj_array(handles: UInt64(UInt(bitPattern: buffer.baseAddress)), count_handles: UInt32(buffer.count), pad: 0)
            return drmIoctl(descriptor.fileDescriptor, request, &array)
        }
        guard code == 0 else { throw .drm(call, errno: code, "syncobjs \(handles)") }
    }

    /// SYNCOBJ_WAIT on binary syncobjs: until all (or, with `all` false, any) have signaled,
    /// or `timeoutNanoseconds` from now pass (TIMED_OUT; 0 only checks). With `forSubmit`, a
    /// syncobj without a fence is waited for until one is attached; without it that is
    /// INVALID_ARGS (EINVAL). Returns the index of the first signaled one (for `all` false).
    @discardableResult
    public func waitSyncobjs(_ handles: [UInt32], all: Bool, timeoutNanoseconds: UInt64, forSubmit: Bool = true) throws(MagmaError) -> Int {
        var handles = handles
        let flags = (all ? cmagma_drm_syncobj_wait_all : 0) | (forSubmit ? cmagma_drm_syncobj_wait_for_submit : 0)
        let deadline = Self.absoluteDeadline(timeoutNanoseconds)
        var first: UInt32 = 0
        let code = handles.withUnsafeMutableBufferPointer { buffer in
            var wait = cmagma_drm_syncobj_wait(handles: UInt64(UInt(bitPattern: buffer.baseAddress)), timeout_nsec: deadline,
                                               count_handles: UInt32(buffer.count), flags: flags, first_signaled: 0, pad: 0)
            let code = drmIoctl(descriptor.fileDescriptor, cmagma_drm_ioctl_syncobj_wait, &wait)
            first = wait.first_signaled
            return code
        }
        guard code == 0 else { throw .drm("DRM_IOCTL_SYNCOBJ_WAIT", errno: code, "syncobjs \(handles)") }
        return Int(first)
    }

    /// SYNCOBJ_TIMELINE_SIGNAL: signals `point` of each timeline syncobj.
    public func signalTimelinePoints(_ handles: [UInt32], points: [UInt64]) throws(MagmaError) {
        try timelineArrayCall(cmagma_drm_ioctl_syncobj_timeline_signal, "DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL", handles, points)
    }

    /// SYNCOBJ_QUERY: each timeline syncobj's last signaled point.
    public func queryTimelinePoints(_ handles: [UInt32]) throws(MagmaError) -> [UInt64] {
        var points = [UInt64](repeating: 0, count: handles.count)
        try timelineArrayCall(cmagma_drm_ioctl_syncobj_query, "DRM_IOCTL_SYNCOBJ_QUERY", handles, &points)
        return points
    }

    private func timelineArrayCall(_ request: UInt, _ call: String, _ handles: [UInt32], _ points: [UInt64]) throws(MagmaError) {
        var points = points
        try timelineArrayCall(request, call, handles, &points)
    }

    private func timelineArrayCall(_ request: UInt, _ call: String, _ handles: [UInt32], _ points: inout [UInt64]) throws(MagmaError) {
        guard handles.count == points.count else { throw .invalidArgs("\(handles.count) syncobjs, \(points.count) points") }
        var handles = handles
        let code = handles.withUnsafeMutableBufferPointer { handleBuffer in
            points.withUnsafeMutableBufferPointer { pointBuffer in
                var array = cmagma_drm_syncobj_timeline_array(handles: UInt64(UInt(bitPattern: handleBuffer.baseAddress)),
                                                              points: UInt64(UInt(bitPattern: pointBuffer.baseAddress)),
                                                              count_handles: UInt32(handleBuffer.count), flags: 0)
                return drmIoctl(descriptor.fileDescriptor, request, &array)
            }
        }
        guard code == 0 else { throw .drm(call, errno: code, "syncobjs \(handles)") }
    }

    /// SYNCOBJ_TIMELINE_WAIT: until every (or any) syncobj has signaled its point, or the
    /// timeout passes (TIMED_OUT). Waits for points not yet submitted (WAIT_FOR_SUBMIT).
    @discardableResult
    public func waitTimelinePoints(_ handles: [UInt32], points: [UInt64], all: Bool, timeoutNanoseconds: UInt64) throws(MagmaError) -> Int {
        guard handles.count == points.count else { throw .invalidArgs("\(handles.count) syncobjs, \(points.count) points") }
        var handles = handles
        var points = points
        let flags = (all ? cmagma_drm_syncobj_wait_all : 0) | cmagma_drm_syncobj_wait_for_submit
        let deadline = Self.absoluteDeadline(timeoutNanoseconds)
        var first: UInt32 = 0
        let code = handles.withUnsafeMutableBufferPointer { handleBuffer in
            points.withUnsafeMutableBufferPointer { pointBuffer in
                var wait = cmagma_drm_syncobj_timeline_wait(handles: UInt64(UInt(bitPattern: handleBuffer.baseAddress)),
                                                            points: UInt64(UInt(bitPattern: pointBuffer.baseAddress)),
                                                            timeout_nsec: deadline, count_handles: UInt32(handleBuffer.count),
                                                            flags: flags, first_signaled: 0, pad: 0)
                let code = drmIoctl(descriptor.fileDescriptor, cmagma_drm_ioctl_syncobj_timeline_wait, &wait)
                first = wait.first_signaled
                return code
            }
        }
        guard code == 0 else { throw .drm("DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT", errno: code, "syncobjs \(handles) points \(points)") }
        return Int(first)
    }

    /// SYNCOBJ_HANDLE_TO_FD: an opaque syncobj descriptor (sharing the container), or with
    /// `syncFile` a sync_file of its current fence (INVALID_ARGS while it has none).
    public func exportSyncobj(_ handle: UInt32, syncFile: Bool) throws(MagmaError) -> OwnedFileDescriptor {
        var export = cmagma_drm_syncobj_handle(handle: handle, flags: syncFile ? cmagma_drm_syncobj_fd_flags_sync_file : 0, fd: -1, pad: 0)
        try perform(cmagma_drm_ioctl_syncobj_handle_to_fd, "DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD", &export, "syncobj \(handle)\(syncFile ? " as sync_file" : "")")
        return OwnedFileDescriptor(taking: export.fd)
    }

    /// SYNCOBJ_FD_TO_HANDLE of an opaque syncobj descriptor (borrowed): a new handle to the
    /// same container.
    public func importSyncobj(_ descriptor: FileDescriptor) throws(MagmaError) -> UInt32 {
        var handle = cmagma_drm_syncobj_handle(handle: 0, flags: 0, fd: descriptor.rawValue, pad: 0)
        try perform(cmagma_drm_ioctl_syncobj_fd_to_handle, "DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE", &handle, "descriptor \(descriptor.rawValue)")
        return handle.handle
    }

    /// SYNCOBJ_FD_TO_HANDLE with IMPORT_SYNC_FILE: replaces syncobj `handle`'s fence with the
    /// sync_file's (from any driver). `descriptor` (the sync_file) is borrowed.
    public func importSyncFile(_ descriptor: FileDescriptor, into handle: UInt32) throws(MagmaError) {
        var request = cmagma_drm_syncobj_handle(handle: handle, flags: cmagma_drm_syncobj_fd_flags_sync_file, fd: descriptor.rawValue, pad: 0)
        try perform(cmagma_drm_ioctl_syncobj_fd_to_handle, "DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE", &request, "sync_file \(descriptor.rawValue) into syncobj \(handle)")
    }

    /// SYNCOBJ_EVENTFD (Linux 6.6, drivers with timeline syncobjs): `eventfd` is signaled once
    /// syncobj `handle` has a signaled fence at `point` (0 for binary), then forgotten. The
    /// kernel takes its own reference to the eventfd: `eventfd` is borrowed.
    public func notifyEventFD(_ eventfd: FileDescriptor, whenSignaled handle: UInt32, point: UInt64 = 0) throws(MagmaError) {
        var request = cmagma_drm_syncobj_eventfd(handle: handle, flags: 0, point: point, fd: eventfd.rawValue, pad: 0)
        try perform(cmagma_drm_ioctl_syncobj_eventfd, "DRM_IOCTL_SYNCOBJ_EVENTFD", &request, "syncobj \(handle)")
    }

    /// The absolute CLOCK_MONOTONIC time the syncobj waits take, `nanoseconds` from now
    /// (0: now, so the wait only checks), saturating at Int64.max.
    static func absoluteDeadline(_ nanoseconds: UInt64) -> Int64 {
        guard nanoseconds > 0 else { return 0 }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let current = UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
        let (sum, overflow) = current.addingReportingOverflow(nanoseconds)
        return overflow || sum > UInt64(Int64.max) ? Int64.max : Int64(sum)
    }
}
