/// The virtio-gpu control-queue structs a Magma guest and host exchange, little-endian, laid
/// out as the virtio spec (5.7.6, "Device Operation") and Linux's `include/uapi/linux/virtio_gpu.h`
/// have them. Written from those layouts: every struct starts with the 24-byte
/// `virtio_gpu_ctrl_hdr`. Decoding checks every length and never traps.
public enum VirtioGPU {
    /// `VIRTIO_GPU_FLAG_FENCE`: respond only once the command's work is done; copy `fence_id`.
    public static let flagFence: UInt32 = 1 << 0
    /// `VIRTIO_GPU_FLAG_INFO_RING_IDX`: `ring_idx` names the fence timeline of the context.
    public static let flagInfoRingIndex: UInt32 = 1 << 1
    /// Rings (fence timelines) a context may have: `ring_idx` is 0..<64.
    public static let maxRings = 64
    /// The Magma capset id (rutabaga's numbering, which Mesa's Magma guest uses).
    public static let magmaCapsetId: UInt32 = 7
    /// `virtio_gpu_ctx_create.context_init`'s capset-id bits.
    public static let contextInitCapsetMask: UInt32 = 0xFF
    /// `PIPE_BUFFER`, the only RESOURCE_CREATE_3D target a Magma buffer is.
    public static let pipeBufferTarget: UInt32 = 0

    /// `enum virtio_gpu_ctrl_type`: command and response types (those this model knows).
    public enum ControlType: UInt32, Sendable {
        case resourceUnref = 0x0102
        case resourceAttachBacking = 0x0106
        case resourceDetachBacking = 0x0107
        case getCapsetInfo = 0x0108
        case getCapset = 0x0109
        case resourceCreateBlob = 0x010C
        case contextCreate = 0x0200
        case contextDestroy = 0x0201
        case contextAttachResource = 0x0202
        case contextDetachResource = 0x0203
        case resourceCreate3D = 0x0204
        case submit3D = 0x0207
        case okNoData = 0x1100
        case okCapsetInfo = 0x1102
        case okCapset = 0x1103
        case errorUnspecified = 0x1200
        case errorOutOfMemory = 0x1201
        case errorInvalidScanoutId = 0x1202
        case errorInvalidResourceId = 0x1203
        case errorInvalidContextId = 0x1204
        case errorInvalidParameter = 0x1205
    }

    /// `struct virtio_gpu_ctrl_hdr` (24 bytes): type, flags, fence_id, ctx_id, ring_idx, 3 pad.
    public struct ControlHeader: Hashable, Sendable {
        /// Bytes in a header.
        public static let byteCount = 24
        /// The command or response type (raw: a device answers unknown ones).
        public var type: UInt32
        /// `flagFence`, `flagInfoRingIndex`.
        public var flags: UInt32
        /// The fence's id (a sequence number on its timeline with `flagInfoRingIndex`).
        public var fenceId: UInt64
        /// The context the command is for (0 for commands of no context).
        public var contextId: UInt32
        /// The ring, with `flagInfoRingIndex`.
        public var ringIndex: UInt8

        public init(type: UInt32, flags: UInt32 = 0, fenceId: UInt64 = 0, contextId: UInt32 = 0, ringIndex: UInt8 = 0) {
            self.type = type
            self.flags = flags
            self.fenceId = fenceId
            self.contextId = contextId
            self.ringIndex = ringIndex
        }

        public init(_ type: ControlType, flags: UInt32 = 0, fenceId: UInt64 = 0, contextId: UInt32 = 0, ringIndex: UInt8 = 0) {
            self.init(type: type.rawValue, flags: flags, fenceId: fenceId, contextId: contextId, ringIndex: ringIndex)
        }

        /// Whether the command asks for a fence.
        public var isFenced: Bool { flags & VirtioGPU.flagFence != 0 }
    }

    /// `struct virtio_gpu_mem_entry` (16 bytes): a guest physical range of a resource's backing.
    public struct MemoryEntry: Hashable, Sendable {
        /// Bytes in an entry.
        public static let byteCount = 16
        /// Guest physical address.
        public var address: UInt64
        /// Bytes.
        public var length: UInt32

        public init(address: UInt64, length: UInt32) {
            self.address = address
            self.length = length
        }
    }

    /// `struct virtio_gpu_resource_create_3d` after its header.
    public struct Resource3D: Hashable, Sendable {
        public var resourceId: UInt32
        public var target: UInt32
        public var format: UInt32
        public var bind: UInt32
        public var width: UInt32
        public var height: UInt32
        public var depth: UInt32
        public var arraySize: UInt32
        public var lastLevel: UInt32
        public var sampleCount: UInt32
        public var flags: UInt32

        public init(resourceId: UInt32, target: UInt32, format: UInt32, bind: UInt32, width: UInt32, height: UInt32,
                    depth: UInt32, arraySize: UInt32, lastLevel: UInt32, sampleCount: UInt32, flags: UInt32) {
            self.resourceId = resourceId
            self.target = target
            self.format = format
            self.bind = bind
            self.width = width
            self.height = height
            self.depth = depth
            self.arraySize = arraySize
            self.lastLevel = lastLevel
            self.sampleCount = sampleCount
            self.flags = flags
        }

        /// A buffer resource of `size` bytes (PIPE_BUFFER, width = size, one row, one layer).
        public static func buffer(id: UInt32, size: UInt32) -> Resource3D {
            Resource3D(resourceId: id, target: VirtioGPU.pipeBufferTarget, format: 0, bind: 0, width: size, height: 1,
                       depth: 1, arraySize: 1, lastLevel: 0, sampleCount: 0, flags: 0)
        }
    }

    /// `struct virtio_gpu_resource_create_blob` after its header, with its entries.
    public struct Blob: Hashable, Sendable {
        /// `VIRTIO_GPU_BLOB_MEM_GUEST`: the resource is guest memory only (its entries).
        public static let memoryGuest: UInt32 = 1
        /// `VIRTIO_GPU_BLOB_MEM_HOST3D`: host memory a context allocated (`blob_id`).
        public static let memoryHost3D: UInt32 = 2
        /// `VIRTIO_GPU_BLOB_MEM_HOST3D_GUEST`: host memory shadowed by guest pages.
        public static let memoryHost3DGuest: UInt32 = 3

        public var resourceId: UInt32
        public var memory: UInt32
        public var flags: UInt32
        public var blobId: UInt64
        public var size: UInt64
        public var entries: [MemoryEntry]

        public init(resourceId: UInt32, memory: UInt32, flags: UInt32, blobId: UInt64, size: UInt64, entries: [MemoryEntry]) {
            self.resourceId = resourceId
            self.memory = memory
            self.flags = flags
            self.blobId = blobId
            self.size = size
            self.entries = entries
        }
    }

    /// A control command's body, by type.
    public enum Command: Hashable, Sendable {
        /// `virtio_gpu_get_capset_info { capset_index, padding }`.
        case getCapsetInfo(index: UInt32)
        /// `virtio_gpu_get_capset { capset_id, capset_version }`.
        case getCapset(id: UInt32, version: UInt32)
        /// `virtio_gpu_ctx_create { nlen, context_init, debug_name[64] }`.
        case contextCreate(contextInit: UInt32, debugName: [UInt8])
        /// `virtio_gpu_ctx_destroy`: the header only.
        case contextDestroy
        /// `virtio_gpu_ctx_resource { resource_id, padding }`.
        case contextAttachResource(resourceId: UInt32)
        /// `virtio_gpu_ctx_resource { resource_id, padding }`.
        case contextDetachResource(resourceId: UInt32)
        /// `virtio_gpu_resource_create_3d`.
        case resourceCreate3D(Resource3D)
        /// `virtio_gpu_resource_create_blob { resource_id, blob_mem, blob_flags, nr_entries,
        /// blob_id, size }` + entries.
        case resourceCreateBlob(Blob)
        /// `virtio_gpu_resource_attach_backing { resource_id, nr_entries }` + entries.
        case resourceAttachBacking(resourceId: UInt32, entries: [MemoryEntry])
        /// `virtio_gpu_resource_detach_backing { resource_id, padding }`.
        case resourceDetachBacking(resourceId: UInt32)
        /// `virtio_gpu_resource_unref { resource_id, padding }`.
        case resourceUnref(resourceId: UInt32)
        /// `virtio_gpu_cmd_submit { size, num_in_fences }` + `size` bytes of context commands.
        /// In-fences (fence passing) are not offered: their count must be 0.
        case submit3D(commands: [UInt8])
        /// A type this model does not implement (answered ERR_UNSPEC).
        case unsupported(type: UInt32)
    }

    /// A response's body, by type.
    public enum Response: Hashable, Sendable {
        /// `RESP_OK_NODATA`.
        case okNoData
        /// `virtio_gpu_resp_capset_info { capset_id, capset_max_version, capset_max_size, padding }`.
        case okCapsetInfo(id: UInt32, maxVersion: UInt32, maxSize: UInt32)
        /// `virtio_gpu_resp_capset { capset_data[] }`.
        case okCapset(data: [UInt8])
        /// An error response (one of the `error...` types), with no body.
        case error(ControlType)
    }

    /// Why bytes are not a control command or response.
    public enum DecodeError: Error, Hashable, Sendable {
        /// Fewer bytes than the struct needs.
        case truncated(needed: Int, available: Int)
        /// A count or size the bytes do not hold, or a value the layout forbids.
        case invalid(String)
    }

    /// The largest ATTACH_BACKING entry count decoded (a command's entries must arrive in one message).
    public static let maxMemoryEntries = 4096
}
