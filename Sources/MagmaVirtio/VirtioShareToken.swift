import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// What an exported virtio timeline's descriptor is: a one-page size-sealed memfd holding which
/// guest exported it (`VirtGPUSocketGuest.key`), that it names a timeline, and its share id in
/// that guest, which the host resolves. The importing connection reads it and resolves the id
/// in its own guest only, so an object of one guest never reaches another: a token of another
/// guest is INVALID_ARGS, as is any descriptor that is not a token. (A buffer's descriptor is
/// no token: it is the resource's own memory, a memfd on the socket emulation and a dma-buf on
/// the guest kernel, as PRIME makes it; a semaphore's is its mirror eventfd, whose kernel id
/// names its share: `VirtioConnection.export(_:)`.)
///
/// A memfd because the backend's export and import types are file descriptors and a memfd's
/// contents say what it is. A token names, it grants nothing its guest did not share: shares
/// are looked up in the host's share table.
struct VirtioShareToken: Equatable {
    static let magic: UInt64 = 0x4552_4148_5356_474D   // "MGVSHARE", little-endian
    static let version: UInt32 = 1
    /// The kind word of a timeline's token (2 named a semaphore before its export became an eventfd).
    static let timelineKind: UInt32 = 3

    let guestKey: UInt64
    let id: UInt64

    /// A new descriptor holding the token.
    func descriptor() throws(MagmaError) -> OwnedFileDescriptor {
        do {
            let memory = try SharedMemory.create(size: 32, name: "magma-virtio-share")
            memory.base.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt64.self)
            memory.base.storeBytes(of: Self.version.littleEndian, toByteOffset: 8, as: UInt32.self)
            memory.base.storeBytes(of: Self.timelineKind.littleEndian, toByteOffset: 12, as: UInt32.self)
            memory.base.storeBytes(of: guestKey.littleEndian, toByteOffset: 16, as: UInt64.self)
            memory.base.storeBytes(of: id.littleEndian, toByteOffset: 24, as: UInt64.self)
            guard let descriptor = memory.descriptor else { throw PlatformError(call: "share token memory without a memfd", errno: .invalidArgument) }
            return try descriptor.duplicate()
        } catch { throw MagmaError.internalError("export token: \(error)") }
    }

    /// The guest key of tokens exported on a guest kernel's device (`VirtGPUKernelDevice`): the
    /// VM is the guest; socket guests' keys start at 1.
    static let kernelGuestKey: UInt64 = 0

    /// The share id a token in `descriptor` (taken) names, if it is of the guest with key
    /// `guestKey`; INVALID_ARGS for anything else, saying what.
    static func id(in descriptor: OwnedFileDescriptor, guestKey: UInt64) throws(MagmaError) -> UInt64 {
        let token = try read(descriptor)
        guard token.guestKey == guestKey else {
            throw .invalidArgs("the descriptor was exported by another virtio guest: objects never cross guests")
        }
        return token.id
    }

    private static func read(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> VirtioShareToken {
        let memory: SharedMemory
        do { memory = try SharedMemory.importing(descriptor) } catch {
            throw .invalidArgs("not an exported virtio timeline (a size-sealed memfd holding a share token): \(error)")
        }
        let base = UnsafeRawPointer(memory.base)
        guard UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) == magic,
              UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) == version,
              UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 12, as: UInt32.self)) == timelineKind else {
            throw .invalidArgs("not an exported virtio timeline (no share token in the memfd)")
        }
        return VirtioShareToken(guestKey: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
                                id: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
    }
}
