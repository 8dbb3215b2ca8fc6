import MagmaPlatform
import MagmaProtocol

/// A buffer of a logical device (Mesa's `MagmaBuffer`): memory the CPU and the GPU share,
/// usable in every address space of its device (mapped there with `AddressSpace.map`), and
/// exportable to other devices and processes.
public final class DeviceBuffer: Sendable {
    /// The device that created or imported it.
    public let device: LogicalDevice
    /// The buffer in the device's home connection.
    let home: Buffer
    /// Its imports into address spaces' connections.
    let instances = InstanceTable<Buffer>(kind: "buffer")
    /// Its memory type (an index into the physical device's memory types): the one it was
    /// created or imported with, kept by its imports into address spaces.
    public let memoryTypeIndex: UInt32
    private let cpuMapped = Locked(false)

    init(device: LogicalDevice, home: Buffer, memoryTypeIndex: UInt32) {
        self.device = device
        self.home = home
        self.memoryTypeIndex = memoryTypeIndex
    }

    /// Size in bytes (the request rounded up to pages).
    public var size: UInt64 { home.size }

    /// The buffer in `space`'s connection, imported on first use there.
    func instance(in space: AddressSpace) throws(MagmaError) -> Buffer {
        try instances.instance(in: space, make: { () throws(MagmaError) -> Buffer in
            try space.connection.importBuffer(try home.export(), memoryType: memoryTypeIndex)
        }, discard: { try? space.connection.release($0) })
    }

    // MARK: CPU mapping

    /// Maps the whole buffer for the CPU (Mesa's `map_cpu`) and returns its bytes. The buffer
    /// has one CPU mapping: mapping it again returns the same bytes. They stay valid until the
    /// buffer is released, also after `unmapCPU()` (the core keeps one mapping per buffer for
    /// its life); a caller must not touch them after unmapping. Memory the CPU cannot reach (a
    /// memory type without `hostVisible`: GPU-only memory) throws INVALID_ARGS.
    public func mapCPU() throws(MagmaError) -> UnsafeMutableRawBufferPointer {
        try instances.checkLive()
        let bytes = try home.bytes
        cpuMapped.withLock { $0 = true }
        return bytes
    }

    /// Ends the CPU mapping `mapCPU()` made (Mesa's `unmap_cpu`); BAD_STATE if the buffer is
    /// not mapped.
    public func unmapCPU() throws(MagmaError) {
        try instances.checkLive()
        let wasMapped = cpuMapped.withLock { mapped in
            defer { mapped = false }
            return mapped
        }
        guard wasMapped else { throw .badState("buffer is not mapped for the CPU") }
    }

    /// Whether `mapCPU()` mapped it and `unmapCPU()` has not unmapped it since.
    public var isCPUMapped: Bool { cpuMapped.withLock { $0 } }

    // MARK: Sharing and lifetime

    /// A new descriptor for importing the buffer into another device
    /// (`LogicalDevice.importBuffer`) here or in another process: a sealed memfd on the
    /// embedded and magmad backends. The caller owns it.
    public func export() throws(MagmaError) -> OwnedFileDescriptor {
        try instances.checkLive()
        return try home.export()
    }

    /// Releases the buffer in its device and in every address space it was used in (its
    /// mappings there go with it). A second release is INVALID_ARGS. Releasing a buffer
    /// in-flight work still uses closes that work's address space with BAD_STATE.
    public func release() throws(MagmaError) {
        for (space, instance) in try instances.release() { space.forget(instance) }
        try device.home.release(home)
    }
}
