import CMagmaDRM
import Glibc
import MagmaDRM
import MagmaPlatform
import MagmaProtocol
import MagmaWire
import SystemPackage

/// The virtgpu ioctl surface over a guest kernel's virtio_gpu driver: DRM_IOCTL_VIRTGPU_* on its
/// render node. Only runs in a guest whose virtio-gpu device serves Magma (capset 7): QEMU's
/// vhost-user-gpu-pci on `magma-vhost-user-gpu` (docs/vhost-user.md). One device is one open of
/// the node: the kernel makes its context on the first use (or at CONTEXT_INIT where the device
/// offers it), allocates resource ids and fence ids, and backs resources with guest pages.
///
/// Fences: with CONTEXT_INIT each of the context's rings is a fence timeline of its own, as the
/// socket emulation's. Without it (QEMU's vhost-user-gpu front-end does not pass CONTEXT_INIT
/// through), every fence of the device is on ONE kernel timeline, and the kernel signals every
/// earlier fence of that timeline when a later one completes: a fence then says only that the
/// host completed the work of a LATER fence, of any context on the device. So without
/// CONTEXT_INIT only one ring is served, and a fence means "done" only for work the host
/// completes in submission order (calls, work without waits); Magma's pending fences (waits,
/// failure watches, notification reads) cannot be kept, which `initializeContext` says.
public final class VirtGPUKernelDevice: VirtGPUDevice {
    /// The render node.
    public let renderNode: String
    private let file: DRMFile
    private let state = Locked(State())

    private struct State {
        var ringCount = 0
        var contextInit = false
        /// Resources not yet released, by GEM handle, each with how many times it is held (made
        /// once, imported again: the kernel gives one file one handle per object).
        var resources: [UInt32: (resource: KernelResource, count: Int)] = [:]
        var closed = false
    }

    /// Opens `renderNode` (read-write); a node of another driver than virtio_gpu is UNIMPLEMENTED.
    public init(renderNode: String) throws(MagmaError) {
        self.renderNode = renderNode
        file = try DRMFile(path: renderNode)
        let driver = try file.version().name
        guard driver == "virtio_gpu" else { throw .unimplemented("\(renderNode) is \(driver), not virtio_gpu") }
    }

    /// Whether the device offers CONTEXT_INIT (per-ring fence timelines).
    public var offersContextInit: Bool { (try? parameter(.contextInit)) == 1 }

    public func parameter(_ param: VirtGPUParam) throws(MagmaError) -> UInt64 {
        var value: Int32 = 0
        let code = withUnsafeMutablePointer(to: &value) { pointer in
            var request = cmagma_drm_virtgpu_getparam(param: param.rawValue, value: UInt64(UInt(bitPattern: pointer)))
            return drmIoctl(file.descriptor.fileDescriptor, cmagma_drm_ioctl_virtgpu_getparam, &request)
        }
        guard code == 0 else { throw .drm("DRM_IOCTL_VIRTGPU_GETPARAM", errno: code, "\(param)") }
        return UInt64(UInt32(bitPattern: value))
    }

    /// GET_CAPS. The kernel copies min(asked, the capset's size) bytes and says neither, so the
    /// capset is read twice into buffers filled with different bytes: where they first differ,
    /// the kernel's copy ended.
    public func capset(id: UInt32, version: UInt32) throws(MagmaError) -> [UInt8] {
        let limit = 1 << 20
        func read(filledWith fill: UInt8) throws(MagmaError) -> [UInt8] {
            var bytes = [UInt8](repeating: fill, count: limit)
            let code = bytes.withUnsafeMutableBytes { buffer in
                var request = cmagma_drm_virtgpu_get_caps(cap_set_id: id, cap_set_ver: version,
                                                          addr: UInt64(UInt(bitPattern: buffer.baseAddress)), size: UInt32(limit), pad: 0)
                return drmIoctl(file.descriptor.fileDescriptor, cmagma_drm_ioctl_virtgpu_get_caps, &request)
            }
            guard code == 0 else { throw .drm("DRM_IOCTL_VIRTGPU_GET_CAPS", errno: code, "capset \(id) version \(version)") }
            return bytes
        }
        let zeros = try read(filledWith: 0), ones = try read(filledWith: 0xFF)
        let length = zeros.indices.first { zeros[$0] != ones[$0] } ?? limit
        return Array(zeros[..<length])
    }

    /// CONTEXT_INIT of `capsetId` with `ringCount` rings where the device offers it. Without it
    /// the kernel makes a context of capset 0 at first use (which the Magma device serves as
    /// Magma): one ring only, and `ringCount` above 1 is UNIMPLEMENTED (see the type's note).
    public func initializeContext(capsetId: UInt32, ringCount: Int) throws(MagmaError) {
        guard (1...VirtioGPU.maxRings).contains(ringCount) else { throw .invalidArgs("\(ringCount) rings: 1...\(VirtioGPU.maxRings)") }
        guard state.withLock({ $0.ringCount == 0 }) else { throw .badState("CONTEXT_INIT: the context exists") }
        if offersContextInit {
            var params = [cmagma_drm_virtgpu_context_set_param(param: cmagma_virtgpu_context_param_capset_id, value: UInt64(capsetId)),
                          cmagma_drm_virtgpu_context_set_param(param: cmagma_virtgpu_context_param_num_rings, value: UInt64(ringCount))]
            let code = params.withUnsafeMutableBufferPointer { params in
                var request = cmagma_drm_virtgpu_context_init(num_params: UInt32(params.count), pad: 0,
                                                              ctx_set_params: UInt64(UInt(bitPattern: params.baseAddress)))
                return drmIoctl(file.descriptor.fileDescriptor, cmagma_drm_ioctl_virtgpu_context_init, &request)
            }
            guard code == 0 else { throw .drm("DRM_IOCTL_VIRTGPU_CONTEXT_INIT", errno: code, "capset \(capsetId), \(ringCount) rings") }
        } else if ringCount > 1 {
            throw .unimplemented("\(renderNode) offers no CONTEXT_INIT (QEMU's vhost-user-gpu does not pass it through): "
                                 + "its one fence timeline cannot keep \(ringCount) rings")
        }
        state.withLock { state in
            state.ringCount = ringCount
            state.contextInit = offersContextInit
        }
    }

    public func createResource(size: Int) throws(MagmaError) -> any VirtGPUResource {
        let page = SharedMemory.pageSize
        guard size > 0, size <= Int(UInt32.max) - page else { throw .invalidArgs("resource of \(size) bytes") }
        guard state.withLock({ $0.ringCount > 0 }) else { throw .badState("RESOURCE_CREATE before CONTEXT_INIT") }
        let bytes = (size + page - 1) / page * page
        var create = cmagma_drm_virtgpu_resource_create(target: VirtioGPU.pipeBufferTarget, format: 0, bind: 0, width: UInt32(bytes), height: 1,
                                                        depth: 1, array_size: 1, last_level: 0, nr_samples: 0, flags: 0,
                                                        bo_handle: 0, res_handle: 0, size: UInt32(bytes), stride: 0)
        try file.perform(cmagma_drm_ioctl_virtgpu_resource_create, "DRM_IOCTL_VIRTGPU_RESOURCE_CREATE", &create, "\(bytes) bytes")
        return try hold(handle: create.bo_handle, resourceId: create.res_handle, bytes: bytes)
    }

    /// MAP + mmap of a GEM handle new to this device, recorded as held once; on failure the
    /// handle is closed.
    private func hold(handle: UInt32, resourceId: UInt32, bytes: Int) throws(MagmaError) -> KernelResource {
        var map = cmagma_drm_virtgpu_map(offset: 0, handle: handle, pad: 0)
        do throws(MagmaError) {
            try file.perform(cmagma_drm_ioctl_virtgpu_map, "DRM_IOCTL_VIRTGPU_MAP", &map, "handle \(handle)")
            let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, file.descriptor.rawValue, off_t(bitPattern: UInt(map.offset)))
            guard let address, address != MAP_FAILED else { let code = errno; throw MagmaError.drm("mmap", errno: code, "handle \(handle)") }
            let resource = KernelResource(resourceId: resourceId, handle: handle, mapping: UnsafeMutableRawBufferPointer(start: address, count: bytes))
            // Two imports of one object racing: the first recorded is held twice, the other mapping dropped.
            let earlier = state.withLock { state -> KernelResource? in
                if let held = state.resources[handle] {
                    state.resources[handle] = (held.resource, held.count + 1)
                    return held.resource
                }
                state.resources[handle] = (resource, 1)
                return nil
            }
            guard let earlier else { return resource }
            _ = resource.take()
            munmap(address, bytes)
            return earlier
        } catch {
            try? file.closeGEMHandle(handle)
            throw error
        }
    }

    /// Lets one hold of the resource go; the last: GEM_CLOSE of its handle, after its mapping is
    /// gone (the kernel then detaches it from the context, and unreferences it once no file or
    /// dma-buf holds it).
    public func release(_ resource: any VirtGPUResource) throws(MagmaError) {
        guard let resource = resource as? KernelResource else { throw .invalidArgs("not a live resource of this device") }
        let last = state.withLock { state -> Bool? in
            guard let held = state.resources[resource.handle], held.resource === resource else { return nil }
            state.resources[resource.handle] = held.count == 1 ? nil : (resource, held.count - 1)
            return held.count == 1
        }
        guard let last else { throw .invalidArgs("not a live resource of this device") }
        guard last, resource.take() else { return }
        munmap(resource.mapping.baseAddress, resource.mapping.count)
        try file.closeGEMHandle(resource.handle)
    }

    /// PRIME export (HANDLE_TO_FD): a dma-buf of the resource, which another open of the device
    /// (in any process of the guest) imports as the same resource; it maps as the resource's pages.
    public func exportResource(_ resource: any VirtGPUResource) throws(MagmaError) -> OwnedFileDescriptor {
        guard let resource = resource as? KernelResource,
              state.withLock({ $0.resources[resource.handle]?.resource === resource }) else {
            throw .invalidArgs("not a live resource of this device")
        }
        return try file.exportDMABuf(resource.handle)
    }

    /// PRIME import (FD_TO_HANDLE) of a dma-buf of this device: the kernel attaches the
    /// resource to this open's context (its GEM open); RESOURCE_INFO gives its resource id. A
    /// dma-buf of another device is INVALID_ARGS (the kernel's EINVAL for a foreign object).
    public func importResource(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> any VirtGPUResource {
        guard !state.withLock({ $0.closed }) else { throw MagmaError(.connectionLost, "the virtio_gpu device was closed") }
        let handle = try file.importDMABuf(descriptor.fileDescriptor)
        let again = state.withLock { state -> KernelResource? in
            guard let held = state.resources[handle] else { return nil }
            state.resources[handle] = (held.resource, held.count + 1)
            return held.resource
        }
        if let again { return again }
        var info = cmagma_drm_virtgpu_resource_info(bo_handle: handle, res_handle: 0, size: 0, blob_mem: 0)
        do throws(MagmaError) {
            try file.perform(cmagma_drm_ioctl_virtgpu_resource_info, "DRM_IOCTL_VIRTGPU_RESOURCE_INFO", &info, "handle \(handle)")
        } catch {
            try? file.closeGEMHandle(handle)
            throw error
        }
        let page = SharedMemory.pageSize
        return try hold(handle: handle, resourceId: info.res_handle, bytes: (Int(info.size) + page - 1) / page * page)
    }

    public func submit(_ commands: [UInt8], fenceOnRing ring: UInt8?) throws(MagmaError) -> (any VirtGPUFence)? {
        try execute(commands, fenceOnRing: ring, waitingFor: [], signaling: [])
    }

    /// One syncobj of an EXECBUFFER: a DRM syncobj of this device's file (`createSyncobj`), at
    /// `point` for a timeline syncobj (0: a binary one).
    public struct Syncobj: Sendable {
        public var handle: UInt32
        public var point: UInt64
        /// For a syncobj waited for: reset it once the kernel has taken its fence.
        public var reset: Bool

        public init(handle: UInt32, point: UInt64 = 0, reset: Bool = false) {
            self.handle = handle
            self.point = point
            self.reset = reset
        }
    }

    /// EXECBUFFER with syncobjs (Linux 6.6 and later): the kernel holds the commands until every
    /// fence of `waitingFor` has signaled (a syncobj with no fence is EINVAL, as the kernel
    /// says), then sends them fenced on `ring`, and puts that fence in each of `signaling`
    /// (at its point, for a timeline syncobj): it signals when the host completes the fenced
    /// command, as the returned sync_file does. The host's failure reaches the syncobj as it
    /// reaches the fence (the command completes; its reply says how).
    public func submit(_ commands: [UInt8], fenceOnRing ring: UInt8, waitingFor: [Syncobj], signaling: [Syncobj]) throws(MagmaError) -> any VirtGPUFence {
        guard let fence = try execute(commands, fenceOnRing: ring, waitingFor: waitingFor, signaling: signaling) else {
            throw .internalError("EXECBUFFER: no fence")
        }
        return fence
    }

    /// A new DRM syncobj of this device's file, unsignaled (or signaled), for `submit`.
    public func createSyncobj(signaled: Bool = false) throws(MagmaError) -> UInt32 { try file.createSyncobj(signaled: signaled) }

    /// Waits for syncobjs (SYNCOBJ_WAIT, all of them, waiting for a fence to be put in too) at
    /// most `timeoutNanoseconds`; whether they signaled.
    public func waitSyncobjs(_ handles: [UInt32], timeoutNanoseconds: UInt64) -> Bool {
        (try? file.waitSyncobjs(handles, all: true, timeoutNanoseconds: timeoutNanoseconds)) != nil
    }

    /// Destroys a syncobj of `createSyncobj`.
    public func destroySyncobj(_ handle: UInt32) throws(MagmaError) { try file.destroySyncobj(handle) }

    private func execute(_ commands: [UInt8], fenceOnRing ring: UInt8?, waitingFor: [Syncobj], signaling: [Syncobj]) throws(MagmaError) -> (any VirtGPUFence)? {
        guard !commands.isEmpty, commands.count <= Int(UInt32.max) else { throw .invalidArgs("EXECBUFFER of \(commands.count) bytes") }
        let (ringCount, contextInit, closed) = state.withLock { ($0.ringCount, $0.contextInit, $0.closed) }
        guard !closed else { throw MagmaError(.connectionLost, "the virtio_gpu device was closed") }
        var flags: UInt32 = 0
        if let ring {
            guard Int(ring) < ringCount else { throw .invalidArgs("ring \(ring) of \(ringCount)") }
            flags |= cmagma_virtgpu_execbuf_fence_fd_out
            if contextInit { flags |= cmagma_virtgpu_execbuf_ring_idx }
        }
        func entries(_ syncobjs: [Syncobj]) -> [cmagma_drm_virtgpu_execbuffer_syncobj] {
            syncobjs.map { cmagma_drm_virtgpu_execbuffer_syncobj(handle: $0.handle, flags: $0.reset ? cmagma_virtgpu_execbuf_syncobj_reset : 0, point: $0.point) }
        }
        let (ins, outs) = (entries(waitingFor), entries(signaling))
        let stride = ins.isEmpty && outs.isEmpty ? 0 : UInt32(MemoryLayout<cmagma_drm_virtgpu_execbuffer_syncobj>.stride)
        var execute = cmagma_drm_virtgpu_execbuffer()
        let code = commands.withUnsafeBytes { bytes in
            ins.withUnsafeBufferPointer { ins in
                outs.withUnsafeBufferPointer { outs in
                    execute = cmagma_drm_virtgpu_execbuffer(
                        flags: flags, size: UInt32(bytes.count), command: UInt64(UInt(bitPattern: bytes.baseAddress)),
                        bo_handles: 0, num_bo_handles: 0, fence_fd: -1, ring_idx: UInt32(ring ?? 0), syncobj_stride: stride,
                        num_in_syncobjs: UInt32(ins.count), num_out_syncobjs: UInt32(outs.count),
                        in_syncobjs: UInt64(UInt(bitPattern: ins.baseAddress)), out_syncobjs: UInt64(UInt(bitPattern: outs.baseAddress)))
                    return drmIoctl(file.descriptor.fileDescriptor, cmagma_drm_ioctl_virtgpu_execbuffer, &execute)
                }
            }
        }
        guard code == 0 else { throw .drm("DRM_IOCTL_VIRTGPU_EXECBUFFER", errno: code, "\(commands.count) bytes") }
        guard ring != nil else { return nil }
        guard execute.fence_fd >= 0 else { throw .internalError("EXECBUFFER: the kernel gave no fence fd") }
        return KernelFence(syncFile: OwnedFileDescriptor(taking: execute.fence_fd))
    }

    /// False: the kernel queues EXECBUFFER's commands on the virtqueue and returns.
    public var appliesSubmissionsOnReturn: Bool { false }

    /// The fence rings CONTEXT_INIT made (1 without CONTEXT_INIT); 0 before it.
    public var fenceRingCount: Int { state.withLock { $0.ringCount } }

    /// Polls the fence's sync_file (readable once signaled).
    public func wait(_ fence: any VirtGPUFence, timeoutNanoseconds: UInt64) -> Bool {
        (try? Poller.poll([PollRequest(descriptor: fence.pollDescriptor)], timeoutNanoseconds: timeoutNanoseconds).first) == true
    }

    /// Releases every resource still live (their mappings and GEM handles: the kernel unrefs
    /// them on the host) and refuses later submissions. The node itself closes when this
    /// device is gone (`DRMFile`), and the kernel then destroys the context.
    public func close() {
        let live = state.withLock { state in
            state.closed = true
            defer { state.resources = [:] }
            return state.resources.values.map(\.resource)
        }
        for resource in live where resource.take() {
            munmap(resource.mapping.baseAddress, resource.mapping.count)
            try? file.closeGEMHandle(resource.handle)
        }
    }
}

/// A resource of `VirtGPUKernelDevice`: a GEM handle of the open node and its mmap.
final class KernelResource: VirtGPUResource, @unchecked Sendable {
    let resourceId: UInt32
    let handle: UInt32
    let mapping: UnsafeMutableRawBufferPointer
    private let live = Locked(true)

    init(resourceId: UInt32, handle: UInt32, mapping: UnsafeMutableRawBufferPointer) {
        self.resourceId = resourceId
        self.handle = handle
        self.mapping = mapping
    }

    var size: Int { mapping.count }

    /// The kernel pins a virtio-gpu resource's pages while the host has them attached
    /// (ATTACH_BACKING of its scatter list), so they are resident for the resource's life.
    func commit(offset: Int, length: Int) throws(MagmaError) {}

    func decommit(offset: Int, length: Int) throws(MagmaError) {
        throw .unimplemented("decommit of a resource of the guest kernel's virtio_gpu: its pages are pinned for the host")
    }

    var committedBytes: Int { size }

    /// Marks it released; false if it already was.
    func take() -> Bool { live.withLock { live in defer { live = false }; return live } }
}

/// A fence of `VirtGPUKernelDevice`: EXECBUFFER's out fence, a sync_file.
final class KernelFence: VirtGPUFence {
    let syncFile: OwnedFileDescriptor
    init(syncFile: OwnedFileDescriptor) { self.syncFile = syncFile }
    var pollDescriptor: FileDescriptor { syncFile.fileDescriptor }
}
