import Glibc
import MagmaPlatform
import MagmaProtocol

/// A new descriptor of `descriptor`'s file (close-on-exec) for a C caller, who owns it.
public func descriptorForCaller(_ descriptor: OwnedFileDescriptor) throws(MagmaError) -> Int32 {
    do throws(PlatformError) {
        return try descriptor.uniqueDuplicate().release()
    } catch {
        throw .memoryError("cannot duplicate a descriptor: \(error)")
    }
}

/// Takes ownership of descriptor number `number` a C caller handed over, if it names an open
/// descriptor; nil (nothing is taken) otherwise.
public func descriptorFromCaller(_ number: Int64) -> OwnedFileDescriptor? {
    guard number >= 0, number <= Int64(Int32.max), fcntl(Int32(number), F_GETFD) != -1 else { return nil }
    return OwnedFileDescriptor(taking: Int32(number))
}
