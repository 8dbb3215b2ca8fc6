import MagmaProtocol

/// Builds one message: the header, the inline part, then out-of-line data, 8-byte aligned.
///
/// Generated code calls it; it checks the protocol's limits as it goes, so an encoder never
/// produces a message a peer must reject for its size.
public struct WireEncoder {
    private var bytes: [UInt8]
    private var handles: [WireHandle] = []

    /// Room a message starts with: a small message's out-of-line vectors are appended without
    /// growing the array again.
    static let initialCapacity = 256

    /// Starts a message whose inline part is `inlineSize` bytes (a multiple of 8).
    public init(ordinal: UInt32, version: UInt16, transactionId: UInt32, inlineSize: Int) {
        bytes = []
        bytes.reserveCapacity(max(Self.initialCapacity, MessageHeader.byteCount + inlineSize))
        bytes.append(contentsOf: repeatElement(0, count: MessageHeader.byteCount + inlineSize))
        WireBytes.store(ordinal, &bytes, 4)
        WireBytes.store(transactionId, &bytes, 8)
        WireBytes.store(version, &bytes, 12)
        WireBytes.store(ProtocolLimits.wireFormat, &bytes, 15)
        WireBytes.store(UInt32(inlineSize), &bytes, 16)
    }

    /// Writes an integer at an absolute offset inside space already laid out.
    public mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        WireBytes.store(value, &bytes, offset)
    }

    /// Writes a boolean as one byte, 0 or 1.
    public mutating func put(_ value: Bool, at offset: Int) { put(UInt8(value ? 1 : 0), at: offset) }

    /// Appends a handle to the message's handle list and writes its index.
    public mutating func put(handle: WireHandle, at offset: Int) throws(WireError) {
        guard handles.count < ProtocolLimits.maxHandles else {
            throw .tooManyHandles(limit: ProtocolLimits.maxHandles, actual: handles.count + 1)
        }
        put(UInt32(handles.count), at: offset)
        handles.append(handle)
    }

    /// Writes an optional handle; an absent one is the index `WireDecoder.absentHandle`.
    public mutating func put(handle: WireHandle?, at offset: Int) throws(WireError) {
        if let handle { try put(handle: handle, at: offset) } else { put(WireDecoder.absentHandle, at: offset) }
    }

    /// Writes integers out of line and their descriptor at `offset`.
    public mutating func put<T: FixedWidthInteger>(vector values: [T], at offset: Int, field: String, limit: Int) throws(WireError) {
        let size = MemoryLayout<T>.size
        let base = try reserve(count: values.count, stride: size, descriptorAt: offset, field: field, limit: limit)
        for (index, value) in values.enumerated() { put(value, at: base + index * size) }
    }

    /// Writes raw bytes out of line and their descriptor at `offset`.
    public mutating func put(bytes values: [UInt8], at offset: Int, field: String, limit: Int) throws(WireError) {
        let base = try reserve(count: values.count, stride: 1, descriptorAt: offset, field: field, limit: limit)
        bytes.replaceSubrange(base..<(base + values.count), with: values)
    }

    /// Writes a string's UTF-8 bytes out of line and their descriptor at `offset`.
    public mutating func put(string value: String, at offset: Int, field: String, limit: Int) throws(WireError) {
        try put(bytes: Array(value.utf8), at: offset, field: field, limit: limit)
    }

    /// Writes structs out of line, each `S.wireSize` bytes apart, and their descriptor at `offset`.
    public mutating func put<S: WireStruct>(structs values: [S], at offset: Int, field: String, limit: Int) throws(WireError) {
        let base = try reserve(count: values.count, stride: S.wireSize, descriptorAt: offset, field: field, limit: limit)
        for (index, value) in values.enumerated() { try value.encode(into: &self, at: base + index * S.wireSize) }
    }

    /// Completes the header and returns the message.
    public mutating func finish() throws(WireError) -> EncodedMessage {
        guard bytes.count <= ProtocolLimits.maxMessageBytes else {
            throw .oversized(limit: ProtocolLimits.maxMessageBytes, actual: bytes.count)
        }
        put(UInt32(bytes.count), at: 0)
        put(UInt8(handles.count), at: 14)
        return EncodedMessage(bytes: bytes, handles: handles)
    }

    /// Appends zeroed, 8-aligned room for `count` elements and writes the vector descriptor:
    /// u32 offset, u32 count, u32 stride, u32 zero.
    private mutating func reserve(count: Int, stride: Int, descriptorAt offset: Int, field: String, limit: Int) throws(WireError) -> Int {
        guard count <= limit else { throw .tooManyElements(field: field, count: count, limit: limit) }
        let base = bytes.count
        let end = base + (count * stride + 7) & ~7
        guard end <= ProtocolLimits.maxMessageBytes else {
            throw .oversized(limit: ProtocolLimits.maxMessageBytes, actual: end)
        }
        if count > 0 { bytes.append(contentsOf: repeatElement(0, count: end - base)) }
        put(UInt32(count > 0 ? base : 0), at: offset)
        put(UInt32(count), at: offset + 4)
        put(UInt32(stride), at: offset + 8)
        return base
    }
}
