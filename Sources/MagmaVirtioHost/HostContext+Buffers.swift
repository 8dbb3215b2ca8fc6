import Magma
import MagmaPlatform
import MagmaProtocol

extension HostContext {
    /// The Magma buffer of a resource's guest pages, used in place (MagmaGuestMemory's view,
    /// adopted by the host connection: the GPU maps the guest's own pages, no copy). INVALID_ARGS
    /// (the reply's, the context usable) for a resource not attached here or without backing;
    /// the device's memory errors as `createBuffer`'s; UNIMPLEMENTED on a host device that is not
    /// in this process (magmad's or DRM's backend cannot map this process's memory).
    func makeBuffer(resourceId: UInt32, memoryType: UInt32, _ scope: CommandScope) throws(MagmaError) -> Buffer {
        let resource = try attachedResource(resourceId, scope)
        guard let pages = resource.backing else { throw .invalidArgs("resource \(resourceId) has no backing") }
        let memory: SharedMemory
        do { memory = try pages.sharedMemory() } catch { throw .internalError("guest pages of resource \(resourceId): \(error)") }
        return try connection.adoptBuffer(memory, memoryType: memoryType)
    }
}
