import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// `DRM_VIRTGPU_GETPARAM` parameters (Linux's `virtgpu_drm.h` numbering).
public enum VirtGPUParam: UInt64, Sendable, CaseIterable {
    case features3D = 1
    case capsetQueryFix = 2
    case resourceBlob = 3
    case hostVisible = 4
    case crossDevice = 5
    case contextInit = 6
    case supportedCapsetIds = 7
}

/// A resource with guest backing, as RESOURCE_CREATE leaves it: the device's resource id and
/// this process's mapping of its pages (what DRM_VIRTGPU_MAP + mmap give a kernel client).
public protocol VirtGPUResource: AnyObject, Sendable {
    /// The virtio-gpu resource id (`res_handle`), which context commands name.
    var resourceId: UInt32 { get }
    /// Size in bytes, whole pages.
    var size: Int { get }
    /// The CPU mapping of its pages (`MAP`): the same pages the host device uses.
    var mapping: UnsafeMutableRawBufferPointer { get }
    /// COMMIT of `length` bytes from `offset` (whole pages inside it, checked by the caller):
    /// gives them backing pages.
    func commit(offset: Int, length: Int) throws(MagmaError)
    /// DECOMMIT of a range (whole pages, checked by the caller): its contents are discarded and
    /// its pages go back to the guest's memory; it reads back as zeros, CPU and GPU.
    func decommit(offset: Int, length: Int) throws(MagmaError)
    /// Bytes of it that have backing pages now.
    var committedBytes: Int { get }
}

/// A fence EXECBUFFER returned (`fence_fd` out): pollable, readable once the fence completed.
public protocol VirtGPUFence: Sendable {
    /// A descriptor that polls readable once the fence has completed. Owned by the fence
    /// (borrowed by the caller).
    var pollDescriptor: FileDescriptor { get }
}

/// The virtgpu ioctl surface a guest driver uses (Linux's DRM_IOCTL_VIRTGPU_*), as a protocol:
/// over the socket emulation (`VirtGPUSocketDevice`) and over a guest kernel's virtio_gpu
/// render node (`VirtGPUKernelDevice`).
public protocol VirtGPUDevice: AnyObject, Sendable {
    /// GETPARAM.
    func parameter(_ param: VirtGPUParam) throws(MagmaError) -> UInt64
    /// GET_CAPS: the capset's bytes.
    func capset(id: UInt32, version: UInt32) throws(MagmaError) -> [UInt8]
    /// CONTEXT_INIT of a capset with `ringCount` fence rings; once per device.
    func initializeContext(capsetId: UInt32, ringCount: Int) throws(MagmaError)
    /// RESOURCE_CREATE of a buffer resource of `size` bytes (rounded up to pages) with guest
    /// backing, attached to the device's context.
    func createResource(size: Int) throws(MagmaError) -> any VirtGPUResource
    /// Drops a resource (GEM close): RESOURCE_UNREF once no open of the guest holds it (then
    /// its pages go back to the allocator), else a detach from this device's context.
    func release(_ resource: any VirtGPUResource) throws(MagmaError)
    /// PRIME export (HANDLE_TO_FD): a descriptor naming `resource` that another open of the
    /// same guest imports as the same resource.
    func exportResource(_ resource: any VirtGPUResource) throws(MagmaError) -> OwnedFileDescriptor
    /// PRIME import (FD_TO_HANDLE, taking the descriptor): the resource an `exportResource`
    /// descriptor of this guest names, attached to this device's context and held by it until
    /// `release`; INVALID_ARGS for any other descriptor (another guest's, a released resource's).
    func importResource(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> any VirtGPUResource
    /// EXECBUFFER: submits context commands; with `fenceOnRing`, a fence on that ring, returned.
    func submit(_ commands: [UInt8], fenceOnRing ring: UInt8?) throws(MagmaError) -> (any VirtGPUFence)?
    /// Whether EXECBUFFER returns only once the host has applied the commands (the socket
    /// emulation waits for the host's answer); a kernel queues them on the virtqueue and
    /// returns at once, so a later command sent another way (a command ring) could overtake them.
    var appliesSubmissionsOnReturn: Bool { get }
    /// How many fence rings CONTEXT_INIT made: each a fence timeline of its own; 1 where the
    /// device offers no CONTEXT_INIT (every fence on the device's one global timeline); 0 before.
    var fenceRingCount: Int { get }
    /// WAIT for a fence, at most `timeoutNanoseconds` (`Poller.forever` waits forever);
    /// whether it completed.
    func wait(_ fence: any VirtGPUFence, timeoutNanoseconds: UInt64) -> Bool
    /// Closes the device (the file): the host drops its context and resources.
    func close()
}
