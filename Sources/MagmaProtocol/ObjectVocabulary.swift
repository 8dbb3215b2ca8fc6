/// A client-chosen object id (buffer, semaphore). Zero is never valid.
public typealias ObjectId = UInt64

extension Priority: Comparable {
    public static func < (a: Priority, b: Priority) -> Bool { a.rawValue < b.rawValue }
}

/// Size and commitment of a buffer.
public struct BufferInfo: Equatable, Sendable {
    /// Bytes that currently have backing pages.
    public var committedByteCount: UInt64
    /// Size in bytes.
    public var size: UInt64
    public init(committedByteCount: UInt64, size: UInt64) {
        self.committedByteCount = committedByteCount
        self.size = size
    }
}
