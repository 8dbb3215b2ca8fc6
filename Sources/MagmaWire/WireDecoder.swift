import MagmaProtocol

/// Reads one message. Every read is bounds-checked and every rule of the wire format is
/// enforced, so any bytes at all give either a message or a `WireError`.
public struct WireDecoder {
    /// The index that marks an absent optional handle.
    public static let absentHandle = UInt32.max

    /// The validated header.
    public let header: MessageHeader
    private let bytes: [UInt8]
    private let handles: [WireHandle]
    private var claimed: [Bool]
    /// Out-of-line bytes the vectors decoded so far cover. Vectors do not overlap, so they
    /// can cover at most the out-of-line part; more means vectors that alias each other, which
    /// would multiply the memory a small message costs to decode, and is `outOfBounds`.
    private var covered = 0

    /// Validates the header against the bytes and the handles that arrived with them.
    public init(bytes: [UInt8], handles: [WireHandle]) throws(WireError) {
        header = try MessageHeader(validating: bytes, handleCount: handles.count)
        self.bytes = bytes
        self.handles = handles
        claimed = Array(repeating: false, count: handles.count)
    }

    /// Handles no decoded field claimed: the transport closes them.
    public var unclaimedHandles: [WireHandle] { handles.indices.filter { !claimed[$0] }.map { handles[$0] } }

    /// Decodes the body as `M`, as a peer that knows `M`'s layouts up to `knownVersion`.
    ///
    /// Fields newer than the sender's version take their defaults; bytes newer than
    /// `knownVersion` are skipped, and so are handles in them.
    public mutating func decodeBody<M: WireMessage>(_: M.Type, knownVersion: UInt16 = M.version) throws(WireError) -> M {
        let version = min(header.version, knownVersion)
        let needed = M.inlineSize(at: version)
        guard Int(header.inlineLength) >= needed else {
            throw .truncated(needed: MessageHeader.byteCount + needed, available: header.outOfLineStart)
        }
        let message = try M(decoding: &self, version: version)
        if header.version <= knownVersion, let index = claimed.firstIndex(of: false) {
            throw .unclaimedHandle(index: index)
        }
        return message
    }

    /// Reads an integer at an absolute offset.
    public func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) throws(WireError) -> T {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset + size <= bytes.count else { throw .truncated(needed: offset + size, available: bytes.count) }
        return WireBytes.load(T.self, bytes, offset)
    }

    /// Reads an enum, flag set or open value type. A closed enum rejects values it does not
    /// define; open types and flag sets accept any value (the receiver judges them).
    public func value<E: RawRepresentable>(_: E.Type, at offset: Int) throws(WireError) -> E where E.RawValue: FixedWidthInteger {
        let raw = try load(E.RawValue.self, at: offset)
        guard let value = E(rawValue: raw) else { throw .unknownEnumValue(type: "\(E.self)", value: Int64(truncatingIfNeeded: raw)) }
        return value
    }

    /// Reads a boolean, which must be 0 or 1.
    public func bool(at offset: Int, field: String) throws(WireError) -> Bool {
        switch try load(UInt8.self, at: offset) {
        case 0: return false
        case 1: return true
        case let value: throw .invalidBool(field: field, value: value)
        }
    }

    /// Claims a required handle.
    public mutating func handle(at offset: Int, field: String) throws(WireError) -> WireHandle {
        guard let handle = try optionalHandle(at: offset, field: field) else { throw .missingHandle(field: field) }
        return handle
    }

    /// Claims an optional handle.
    public mutating func optionalHandle(at offset: Int, field: String) throws(WireError) -> WireHandle? {
        let index = try load(UInt32.self, at: offset)
        if index == WireDecoder.absentHandle { return nil }
        guard index < handles.count else { throw .handleIndexOutOfRange(field: field, index: index) }
        guard !claimed[Int(index)] else { throw .handleClaimedTwice(field: field, index: index) }
        claimed[Int(index)] = true
        return handles[Int(index)]
    }

    /// Reads a vector of integers.
    public mutating func vector<T: FixedWidthInteger>(at offset: Int, field: String, limit: Int) throws(WireError) -> [T] {
        let size = MemoryLayout<T>.size
        let (base, count, _) = try locate(at: offset, field: field, limit: limit, minimumStride: size, exactStride: true)
        return (0..<count).map { WireBytes.load(T.self, bytes, base + $0 * size) }
    }

    /// Reads raw bytes.
    public mutating func bytes(at offset: Int, field: String, limit: Int) throws(WireError) -> [UInt8] {
        let (base, count, _) = try locate(at: offset, field: field, limit: limit, minimumStride: 1, exactStride: true)
        guard count > 0 else { return [] }
        // One copy from the message's buffer (an ArraySlice's conversion goes element by element).
        return bytes.withUnsafeBytes { [UInt8](UnsafeRawBufferPointer(rebasing: $0[base..<(base + count)])) }
    }

    /// Reads a UTF-8 string.
    public mutating func string(at offset: Int, field: String, limit: Int) throws(WireError) -> String {
        guard let value = String(validating: try bytes(at: offset, field: field, limit: limit), as: UTF8.self) else {
            throw .invalidUTF8(field: field)
        }
        return value
    }

    /// Reads a vector of structs. A stride longer than this side's layout holds fields from a
    /// newer peer, which are skipped; a shorter one leaves newer fields at their defaults.
    public mutating func structs<S: WireStruct>(at offset: Int, field: String, limit: Int) throws(WireError) -> [S] {
        let (base, count, stride) = try locate(at: offset, field: field, limit: limit, minimumStride: S.minimumWireSize, exactStride: false)
        var result: [S] = []
        result.reserveCapacity(count)
        for index in 0..<count { result.append(try S(decoding: &self, at: base + index * stride, size: stride)) }
        return result
    }

    /// Checks a vector descriptor and returns where its elements are.
    private mutating func locate(at offset: Int, field: String, limit: Int, minimumStride: Int, exactStride: Bool) throws(WireError) -> (base: Int, count: Int, stride: Int) {
        let base = Int(try load(UInt32.self, at: offset))
        let count = Int(try load(UInt32.self, at: offset + 4))
        let stride = Int(try load(UInt32.self, at: offset + 8))
        guard try load(UInt32.self, at: offset + 12) == 0 else { throw .reservedNotZero(what: "\(field) descriptor word") }
        guard count <= limit else { throw .tooManyElements(field: field, count: count, limit: limit) }
        if count == 0 { return (0, 0, stride) }
        let strideFits = exactStride ? stride == minimumStride : stride >= minimumStride && stride % 8 == 0
        guard strideFits else { throw .badStride(field: field, stride: stride) }
        guard base % 8 == 0 else { throw .misaligned(what: "\(field) offset", value: base) }
        guard base >= header.outOfLineStart, base + count * stride <= bytes.count else { throw .outOfBounds(field: field) }
        covered += count * stride
        guard covered <= bytes.count - header.outOfLineStart else { throw .outOfBounds(field: field) }
        return (base, count, stride)
    }
}
