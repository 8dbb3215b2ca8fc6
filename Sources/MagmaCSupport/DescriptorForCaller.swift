import Glibc
import MagmaPlatform
import MagmaProtocol

/// A new descriptor of `descriptor`'s file (close-on-exec) for a C caller, who owns it.
public func descriptorForCaller(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> Int32 {
    let copy = fcntl(descriptor.rawValue, F_DUPFD_CLOEXEC, 0)
    guard copy >= 0 else { throw .memoryError("cannot duplicate a descriptor: \(PlatformError(call: "fcntl"))") }
    return copy
}
