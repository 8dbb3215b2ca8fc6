import Glibc
import MagmaPlatform
import MagmaProtocol

/// A new descriptor of `descriptor`'s file (close-on-exec) for a C caller, who owns it.
public func descriptorForCaller(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> Int32 {
    let copy = fcntl(descriptor.rawValue, F_DUPFD_CLOEXEC, 0)
    guard copy >= 0 else { throw .memoryError("cannot duplicate a descriptor: \(PlatformError(call: "fcntl"))") }
    return copy
}

/// Takes ownership of descriptor number `number` a C caller handed over, if it names an open
/// descriptor; nil (nothing is taken) otherwise.
public func descriptorFromCaller(_ number: Int64) -> OwnedFileDescriptor? {
    guard number >= 0, number <= Int64(Int32.max), fcntl(Int32(number), F_GETFD) != -1 else { return nil }
    return OwnedFileDescriptor(taking: Int32(number))
}
