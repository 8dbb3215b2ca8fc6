import MagmaGuestMemory

/// A virtio-gpu resource of one guest: a buffer-shaped RESOURCE_CREATE_3D (PIPE_BUFFER,
/// `size` = width bytes) and, once ATTACH_BACKING gave it guest pages, the host's view of them
/// (MagmaGuestMemory's `GuestPages`: the guest's own pages, no copy).
final class VirtioResource: @unchecked Sendable {
    let id: UInt32
    let size: Int
    /// The guest pages behind it; nil before ATTACH_BACKING and after DETACH_BACKING.
    /// Read and written under the device model's lock.
    var backing: GuestPages?
    /// The contexts it is attached to (CTX_ATTACH_RESOURCE); only they may name it.
    var contexts: Set<UInt32> = []

    init(id: UInt32, size: Int) {
        self.id = id
        self.size = size
    }
}
