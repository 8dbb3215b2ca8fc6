import MagmaGuestMemory
import MagmaProtocol
import MagmaWire

/// Where a call's reply goes: a range of a guest-backed resource's pages (`guest_reply_area`).
/// It holds the pages, so a reply written after the resource was unreferenced still lands in
/// the memory the guest named (and nowhere else).
struct ReplyTarget: Sendable {
    let pages: GuestPages
    let offset: Int
    let length: Int

    /// Writes the reply message; INVALID_ARGS (nothing written) if it does not fit the area.
    func write<M: WireMessage>(_ message: M) throws(MagmaError) {
        let bytes: [UInt8]
        do { bytes = try message.encoded().bytes } catch { throw .internalError("encoding \(M.name): \(error)") }
        guard bytes.count <= length else {
            throw .invalidArgs("reply area of \(length) bytes cannot hold \(M.name)'s \(bytes.count)")
        }
        bytes.withUnsafeBytes { source in
            UnsafeMutableRawBufferPointer(rebasing: pages.bytes[offset..<(offset + bytes.count)]).copyMemory(from: source)
        }
    }

    /// Writes `status_reply` for an outcome.
    func writeStatus(_ error: MagmaError?) throws(MagmaError) {
        try write(VirtioContextProtocol.StatusReply(status: error?.status ?? .ok, reason: (error?.message ?? "").truncated(toUTF8Bytes: 256)))
    }
}

extension String {
    /// The longest prefix of whole characters whose UTF-8 fits `limit` bytes.
    func truncated(toUTF8Bytes limit: Int) -> String {
        if utf8.count <= limit { return self }
        var result = ""
        var used = 0
        for character in self {
            let size = character.utf8.count
            if used + size > limit { break }
            result.append(character)
            used += size
        }
        return result
    }
}
