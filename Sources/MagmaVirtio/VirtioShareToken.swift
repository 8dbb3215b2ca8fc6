import MagmaPlatform
import MagmaProtocol

/// What an exported virtio semaphore's or timeline's descriptor is: a one-page size-sealed memfd
/// holding which guest exported it (`VirtGPUSocketGuest.key`), what it is and its share id in
/// that guest, which the host resolves. The importing connection reads it and resolves the id
/// in its own guest only, so an object of one guest never reaches another: a token of another
/// guest is INVALID_ARGS, as is any descriptor that is not a token. (A buffer's descriptor is
/// no token: it is the resource's own memory, a memfd on the socket emulation and a dma-buf on
/// the guest kernel, as PRIME makes it.)
///
/// A memfd because the backend's export and import types are file descriptors and a memfd's
/// contents say what it is; its identity is not needed (an eventfd could carry neither a
/// share id nor a type). A token names, it grants nothing its guest did not share: shares are
/// looked up in the host's share table.
struct VirtioShareToken: Equatable {
    /// What the token names.
    enum Kind: UInt32 {
        /// A semaphore, by the guest's share id.
        case semaphore = 2
        /// A timeline, by the guest's share id.
        case timeline = 3
    }

    static let magic: UInt64 = 0x4552_4148_5356_474D   // "MGVSHARE", little-endian
    static let version: UInt32 = 1

    let guestKey: UInt64
    let kind: Kind
    let id: UInt64

    /// A new descriptor holding the token.
    func descriptor() throws(MagmaError) -> OwnedFileDescriptor {
        do {
            let memory = try SharedMemory.create(size: 32, name: "magma-virtio-share")
            memory.base.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt64.self)
            memory.base.storeBytes(of: Self.version.littleEndian, toByteOffset: 8, as: UInt32.self)
            memory.base.storeBytes(of: kind.rawValue.littleEndian, toByteOffset: 12, as: UInt32.self)
            memory.base.storeBytes(of: guestKey.littleEndian, toByteOffset: 16, as: UInt64.self)
            memory.base.storeBytes(of: id.littleEndian, toByteOffset: 24, as: UInt64.self)
            guard let descriptor = memory.descriptor else { throw PlatformError(call: "share token memory without a memfd", errno: .invalidArgument) }
            return try descriptor.duplicate()
        } catch { throw MagmaError.internalError("export token: \(error)") }
    }

    /// The guest key of tokens exported on a guest kernel's device (`VirtGPUKernelDevice`): the
    /// VM is the guest; socket guests' keys start at 1.
    static let kernelGuestKey: UInt64 = 0

    /// The id a token in `descriptor` (taken) names, if it is of the guest with key `guestKey`
    /// and of kind `kind`; INVALID_ARGS for anything else, saying what.
    static func id(in descriptor: OwnedFileDescriptor, kind: Kind, guestKey: UInt64) throws(MagmaError) -> UInt64 {
        let token = try read(descriptor)
        guard token.guestKey == guestKey else {
            throw .invalidArgs("the descriptor was exported by another virtio guest: objects never cross guests")
        }
        guard token.kind == kind else { throw .invalidArgs("the descriptor names a \(token.kind), not a \(kind)") }
        return token.id
    }

    /// The kind a token in `descriptor` names, without taking it; nil if it holds none.
    static func kind(of descriptor: Int32) -> Kind? {
        guard let copy = try? OwnedFileDescriptor.duplicating(descriptor) else { return nil }
        return try? read(copy).kind
    }

    private static func read(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> VirtioShareToken {
        let memory: SharedMemory
        do { memory = try SharedMemory.importing(descriptor) } catch {
            throw .invalidArgs("not an exported virtio object (a size-sealed memfd holding a share token): \(error)")
        }
        let base = UnsafeRawPointer(memory.base)
        guard UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) == magic,
              UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) == version,
              let kind = Kind(rawValue: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 12, as: UInt32.self))) else {
            throw .invalidArgs("not an exported virtio object (no share token in the memfd)")
        }
        return VirtioShareToken(guestKey: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt64.self)), kind: kind,
                                id: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
    }
}
