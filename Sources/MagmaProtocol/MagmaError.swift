/// A failed Magma operation: a status code plus a human-readable reason.
///
/// Two errors compare equal when their statuses match; the message is for people.
public struct MagmaError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The status a C caller would see. Never `.ok`.
    public let status: MagmaStatus
    /// What went wrong, in words.
    public let message: String
    /// The errno of the system call that failed, when one did (for example ENOENT or EACCES
    /// opening a device endpoint).
    public let systemErrorCode: Int32?

    /// Creates an error; `status` must not be `.ok`.
    public init(_ status: MagmaStatus, _ message: String = "", systemErrorCode: Int32? = nil) {
        precondition(status != .ok, "MagmaError cannot carry .ok")
        self.status = status
        self.message = message
        self.systemErrorCode = systemErrorCode
    }

    public static func == (lhs: MagmaError, rhs: MagmaError) -> Bool { lhs.status == rhs.status }

    public var description: String { message.isEmpty ? "\(status)" : "\(status): \(message)" }

    /// INVALID_ARGS with a reason.
    public static func invalidArgs(_ message: String) -> MagmaError { MagmaError(.invalidArgs, message) }
    /// BAD_STATE with a reason.
    public static func badState(_ message: String) -> MagmaError { MagmaError(.badState, message) }
    /// MEMORY_ERROR with a reason.
    public static func memoryError(_ message: String) -> MagmaError { MagmaError(.memoryError, message) }
    /// INTERNAL_ERROR with a reason.
    public static func internalError(_ message: String) -> MagmaError { MagmaError(.internalError, message) }
    /// ACCESS_DENIED with a reason.
    public static func accessDenied(_ message: String) -> MagmaError { MagmaError(.accessDenied, message) }
    /// UNIMPLEMENTED with a reason.
    public static func unimplemented(_ message: String) -> MagmaError { MagmaError(.unimplemented, message) }
}
