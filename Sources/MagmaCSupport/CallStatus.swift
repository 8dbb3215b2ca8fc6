import MagmaProtocol

/// Runs the body of a C call and turns its outcome into a status code (Fuchsia's values, which
/// both C APIs use): no Swift error leaves a C API.
public func status(_ body: () throws(MagmaError) -> Void) -> Int32 {
    do {
        try body()
        return MagmaStatus.ok.rawValue
    } catch {
        return error.status.rawValue
    }
}

/// INVALID_ARGS unless `pointer` is non-NULL.
public func required<T>(_ pointer: T?, _ name: String) throws(MagmaError) -> T {
    guard let pointer else { throw .invalidArgs("\(name) is NULL") }
    return pointer
}
