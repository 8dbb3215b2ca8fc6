import Magma
import MagmaProtocol

extension HostContext {
    /// The Magma buffer of a resource's guest pages, used in place. INVALID_ARGS (the reply's,
    /// the context usable) for a resource not attached here or without backing.
    func makeBuffer(resourceId: UInt32, memoryType: UInt32, _ scope: CommandScope) throws(MagmaError) -> Buffer {
        let resource = try attachedResource(resourceId, scope)
        guard resource.backing != nil else { throw .invalidArgs("resource \(resourceId) has no backing") }
        // Adopting guest pages as a buffer is MagmaGuestMemory's part of issue 17 (branch
        // i-guestmem: Connection.adoptBuffer); until it is merged there is no way to make one
        // without copying, so the call answers UNIMPLEMENTED in its reply.
        throw .unimplemented("a buffer of guest pages needs Connection.adoptBuffer (i-guestmem), not merged yet")
    }
}
