import Glibc
import MagmaPlatform
import MagmaProtocol
import Magma
import Synchronization

/// A buffer object in a DRM file: a GEM handle the connection counts, mapped on the CPU on
/// first use (through the driver's map ioctl for buffers made here, through the dma-buf for
/// imports: another device's object cannot be mapped through this file) and exported as a
/// dma-buf. The CPU mapping holds the object, so it stays valid after release until the
/// buffer is gone.
public final class DRMBuffer: BackendBuffer {
    /// The buffer's id in its connection (allocated by the connection: two imports of one
    /// object share a GEM handle but not an id).
    public let id: ObjectId
    /// The GEM handle in the connection's file.
    public let handle: UInt32
    /// Size in bytes, as the kernel rounded it (or the dma-buf's size, for an import).
    public let size: UInt64
    /// The kernel does not report which pages are resident: the whole size.
    public var committedByteCount: UInt64 { size }

    private let file: DRMFile
    private let driver: any DRMDriver
    /// The dma-buf an import came from; nil for a buffer made here.
    private let importedFrom: OwnedFileDescriptor?
    private let mapping = Locked<CPUMapping?>(nil)
    private let released = Atomic<Bool>(false)

    init(id: ObjectId, handle: UInt32, size: UInt64, file: DRMFile, driver: any DRMDriver, importedFrom: OwnedFileDescriptor?) {
        self.id = id
        self.handle = handle
        self.size = size
        self.file = file
        self.driver = driver
        self.importedFrom = importedFrom
    }

    deinit {
        if let mapping = mapping.withLock({ $0 }) { munmap(mapping.memory.baseAddress, mapping.memory.count) }
    }

    /// Whether the buffer was imported from a dma-buf.
    public var isImported: Bool { importedFrom != nil }

    /// Marks the buffer released; false if it already was.
    func markReleased() -> Bool { !released.exchange(true, ordering: .acquiringAndReleasing) }

    /// The CPU mapping, made on the first call. After release a buffer never mapped has none:
    /// its handle is closed (and may already name another object), so that is BAD_STATE.
    public func cpuMapping() throws(MagmaError) -> UnsafeMutableRawBufferPointer {
        try mapping.withLock { (mapping) throws(MagmaError) -> UnsafeMutableRawBufferPointer in
            if let mapping { return mapping.memory }
            guard !released.load(ordering: .acquiring) else { throw .badState("buffer \(id) was released before it was mapped") }
            guard let length = Int(exactly: size) else { throw .memoryError("buffer of \(size) bytes cannot be mapped") }
            let memory: UnsafeMutableRawBufferPointer
            if let importedFrom {
                memory = try DMABuf.map(importedFrom.rawValue, offset: 0, size: length, what: "dma-buf of buffer \(id)")
            } else {
                memory = try file.map(offset: try driver.mapOffset(in: file, handle: handle), size: length)
            }
            mapping = CPUMapping(memory: memory)
            return memory
        }
    }

    /// A new dma-buf of the object (PRIME export, read-write, close-on-exec).
    public func export() throws(MagmaError) -> OwnedFileDescriptor {
        guard !released.load(ordering: .acquiring) else { throw .badState("buffer \(id) was released") }
        return try file.exportDMABuf(handle)
    }

    /// Runs `body` on the CPU mapping between DMA_BUF_IOCTL_SYNC start and end for `access`,
    /// so the exporter can make the CPU's view coherent and wait for the object's fences.
    public func withCPUAccess<Result>(_ access: DMABuf.Access, _ body: (UnsafeMutableRawBufferPointer) throws(MagmaError) -> Result) throws(MagmaError) -> Result {
        let memory = try cpuMapping()
        let dmaBuf: OwnedFileDescriptor
        if let importedFrom { dmaBuf = importedFrom } else { dmaBuf = try export() }
        // The descriptor must outlive every ioctl on its number (an export is held only here).
        defer { withExtendedLifetime(dmaBuf) {} }
        try DMABuf.sync(dmaBuf.fileDescriptor, access, ending: false)
        let result: Result
        do { result = try body(memory) } catch {
            try? DMABuf.sync(dmaBuf.fileDescriptor, access, ending: true)
            throw error
        }
        try DMABuf.sync(dmaBuf.fileDescriptor, access, ending: true)
        return result
    }
}

/// A CPU mapping, owned by its buffer (munmap at deinit).
private struct CPUMapping: @unchecked Sendable {
    let memory: UnsafeMutableRawBufferPointer
}
