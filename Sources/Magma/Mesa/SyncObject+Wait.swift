import MagmaPlatform
import MagmaProtocol

extension SyncObject {
    /// Waits until every one of `objects` is signaled, or `timeoutNanoseconds` passes
    /// (`UInt64.max` waits forever); resets none of them. INVALID_ARGS for an empty list or a
    /// released object, TIMED_OUT when one stays unsignaled, and the error of a failed address
    /// space that uses one of them (as `wait(timeoutNanoseconds:)`).
    public static func waitAll(_ objects: [SyncObject], timeoutNanoseconds: UInt64) throws(MagmaError) {
        guard !objects.isEmpty else { throw .invalidArgs("no sync objects to wait for") }
        let deadline = Deadline(after: timeoutNanoseconds)
        while true {
            var unsignaled: [SyncObject] = []
            for object in objects where !(try object.isSignaled()) { unsignaled.append(object) }
            guard let first = unsignaled.first else { return }
            try Poll.wait(first.pollItems, timeoutNanoseconds: deadline.remainingNanoseconds)
        }
    }

    /// Waits until at least one of `objects` is signaled, or `timeoutNanoseconds` passes
    /// (`UInt64.max` waits forever), and returns the index of the first signaled one; resets
    /// none. Errors as `waitAll`.
    public static func waitAny(_ objects: [SyncObject], timeoutNanoseconds: UInt64) throws(MagmaError) -> Int {
        guard !objects.isEmpty else { throw .invalidArgs("no sync objects to wait for") }
        let deadline = Deadline(after: timeoutNanoseconds)
        while true {
            for (index, object) in objects.enumerated() where try object.isSignaled() { return index }
            try Poll.wait(objects.flatMap(\.pollItems), timeoutNanoseconds: deadline.remainingNanoseconds)
        }
    }
}
