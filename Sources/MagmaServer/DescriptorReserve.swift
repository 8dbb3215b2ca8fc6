import Glibc
import MagmaPlatform

/// One descriptor held back for when the process runs out (EMFILE): giving it up lets the
/// accept loop take the client waiting in the backlog and close it at once, so that client
/// sees its connection closed instead of waiting, and the loop does not spin on it.
final class DescriptorReserve {
    private var descriptor: Int32 = -1

    init() { refill() }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Accepts and closes one waiting client of `listener`, using the reserve if need be.
    func refuseOne(on listener: MessageSocket) {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
        if (try? Poller.poll([PollRequest(descriptor: listener.descriptor.fileDescriptor)], timeoutNanoseconds: 0).first) == true,
           let refused = try? listener.accept() {
            refused.shutdown()
        }
        refill()
    }

    private func refill() {
        if descriptor < 0 { descriptor = open("/dev/null", O_RDONLY | O_CLOEXEC) }
    }
}
