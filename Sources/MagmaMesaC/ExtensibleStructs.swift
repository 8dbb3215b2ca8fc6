import CMagmaMesa
import MagmaProtocol

/// Bytes of the header every extensible struct begins with: s_type, size, next.
private let headerSize = 16

/// The header of an extensible struct at `pointer`, checked: its s_type is `stype` and its size
/// covers at least the header. Returns the size the caller declared.
private func checkedSize(_ pointer: UnsafeRawPointer, _ stype: magma_structure_type_t, _ name: String) throws(MagmaError) -> Int {
    let found = pointer.loadUnaligned(as: UInt32.self)
    let size = Int(pointer.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    guard found == stype else { throw .invalidArgs("\(name): s_type \(found), expected \(stype)") }
    guard size >= headerSize else { throw .invalidArgs("\(name): size \(size) does not cover the header") }
    return size
}

/// Reads an extensible struct the caller filled: the first `size` bytes it declared, over
/// `blank` (so a field an older caller does not know stays as `blank` has it, zero).
func readExtensible<T>(_ pointer: UnsafePointer<T>?, _ stype: magma_structure_type_t, blank: T, _ name: String) throws(MagmaError) -> T {
    guard let pointer else { throw .invalidArgs("\(name) is NULL") }
    let size = try checkedSize(UnsafeRawPointer(pointer), stype, name)
    var value = blank
    withUnsafeMutableBytes(of: &value) { bytes in
        bytes.copyMemory(from: UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer), count: min(size, bytes.count)))
    }
    return value
}

/// An extensible struct the library fills, checked before any work is done.
struct ExtensibleOutput<T> {
    private let pointer: UnsafeMutablePointer<T>
    private let size: Int

    /// INVALID_ARGS for NULL, a wrong s_type or a size smaller than the header.
    init(_ pointer: UnsafeMutablePointer<T>?, _ stype: magma_structure_type_t, _ name: String) throws(MagmaError) {
        guard let pointer else { throw .invalidArgs("\(name) is NULL") }
        size = try checkedSize(UnsafeRawPointer(pointer), stype, name)
        self.pointer = pointer
    }

    private init(_ pointer: UnsafeMutablePointer<T>, size: Int) {
        self.pointer = pointer
        self.size = size
    }

    /// The `count` entries of a caller's array of extensible structs, checked: the array's
    /// stride is the size the first entry declares (the caller's struct, older or newer than the
    /// library's), which every entry must declare and which keeps the header aligned;
    /// INVALID_ARGS otherwise.
    static func array(_ first: UnsafeMutablePointer<T>, count: Int, _ stype: magma_structure_type_t, _ name: String) throws(MagmaError) -> [ExtensibleOutput] {
        guard count > 0 else { return [] }
        let stride = try checkedSize(UnsafeRawPointer(first), stype, "\(name)[0]")
        guard stride % MemoryLayout<UnsafeRawPointer>.alignment == 0 else {
            throw .invalidArgs("\(name)[0]: size \(stride) is no array stride (not a multiple of \(MemoryLayout<UnsafeRawPointer>.alignment))")
        }
        return try (0..<count).map { (index) throws(MagmaError) in
            let entry = UnsafeMutableRawPointer(first).advanced(by: index * stride)
            let size = try checkedSize(entry, stype, "\(name)[\(index)]")
            guard size == stride else { throw .invalidArgs("\(name)[\(index)]: size \(size), but \(name)[0] declares \(stride)") }
            return ExtensibleOutput(entry.assumingMemoryBound(to: T.self), size: size)
        }
    }

    /// Writes `value`'s fields after the header, as far as the caller's size reaches; the
    /// caller's s_type, size and next stay.
    func write(_ value: T) {
        var value = value
        withUnsafeBytes(of: &value) { bytes in
            let end = min(size, bytes.count)
            guard end > headerSize else { return }
            UnsafeMutableRawPointer(pointer).advanced(by: headerSize)
                .copyMemory(from: bytes.baseAddress!.advanced(by: headerSize), byteCount: end - headerSize)
        }
    }
}

/// The structs chained from `next`: each one's s_type and a pointer to it. At most `limit`
/// (a longer chain, or a cycle, is INVALID_ARGS).
func chain(from next: UnsafeRawPointer?, limit: Int = 8, _ name: String) throws(MagmaError) -> [(stype: magma_structure_type_t, pointer: UnsafeRawPointer)] {
    var found: [(stype: magma_structure_type_t, pointer: UnsafeRawPointer)] = []
    var link = next
    while let current = link {
        guard found.count < limit else { throw .invalidArgs("\(name): more than \(limit) chained structs") }
        let stype = current.loadUnaligned(as: UInt32.self)
        found.append((stype, current))
        link = current.loadUnaligned(fromByteOffset: 8, as: UnsafeRawPointer?.self)
    }
    return found
}

/// Copies `text` into a fixed C char array field (`capacity` bytes), cut to fit, NUL-terminated.
func copyName<Field>(_ text: String, into field: inout Field, capacity: Int) {
    withUnsafeMutableBytes(of: &field) { bytes in
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
        var utf8 = Array(text.utf8.prefix(capacity - 1))
        while !utf8.isEmpty, String(validating: utf8, as: UTF8.self) == nil { utf8.removeLast() }   // no cut inside a character
        bytes.copyBytes(from: utf8)
    }
}
