/// A client-chosen object id (buffer, semaphore). Zero is never valid.
public typealias ObjectId = UInt64

/// The id reserved as "no object".
public let invalidObjectId: ObjectId = 0

/// GPU mapping permissions and behaviour, with Fuchsia's bit values.
public struct MapFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let read = MapFlags(rawValue: 1)
    public static let write = MapFlags(rawValue: 2)
    public static let execute = MapFlags(rawValue: 4)
    /// Pages are committed on first GPU touch instead of faulting.
    public static let growable = MapFlags(rawValue: 8)
    /// Bits from here up belong to the driver.
    public static let vendorShift = 16

    /// Every bit this interface defines.
    public static let known: MapFlags = [.read, .write, .execute, .growable]
}

/// Context scheduling priority; a higher value runs first. Values are Fuchsia's.
public struct Priority: RawRepresentable, Hashable, Comparable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let low = Priority(rawValue: 128)
    public static let medium = Priority(rawValue: 256)
    public static let high = Priority(rawValue: 512)
    public static let realtime = Priority(rawValue: 1024)
    public static func < (a: Priority, b: Priority) -> Bool { a.rawValue < b.rawValue }
}

/// Operations on a range of a buffer's pages (magma.h's MAGMA_BUFFER_RANGE_OP_*).
public enum BufferRangeOp: UInt32, Sendable, CaseIterable {
    /// Fill the GPU page tables for the range now (commits the pages).
    case populateTables = 1
    /// Commit backing pages (client side).
    case commit = 2
    /// Remove the range from the GPU page tables; contents are kept.
    case depopulateTables = 3
    /// Release backing pages (client side); contents become zero.
    case decommit = 4
}

/// CPU cache policy of a buffer.
public enum CachePolicy: UInt32, Sendable, CaseIterable {
    case cached = 0
    case writeCombining = 1
    case uncached = 2
}

/// A CPU cache maintenance operation.
public enum CacheOperation: UInt32, Sendable, CaseIterable {
    case clean = 0
    case cleanInvalidate = 1
}

/// Flags for importing a semaphore.
public struct ImportSemaphoreFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// Waits on this import never reset the semaphore.
    public static let oneShot = ImportSemaphoreFlags(rawValue: 1)
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
