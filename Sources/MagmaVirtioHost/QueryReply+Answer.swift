import MagmaPlatform
import MagmaProtocol
import MagmaWire

extension VirtioContextProtocol.QueryReply {
    /// A failed query's reply.
    init(failed status: MagmaStatus) {
        self.init(status: status, kind: .value, value: 0, bufferSize: 0)
    }

    /// The host device's answer, as the guest reads it: a value, or a buffer's size with as
    /// many of its bytes as fit copied into `answerArea`.
    init(answering answer: QueryAnswer, into answerArea: ReplyTarget) {
        switch answer {
        case .value(let value):
            self.init(status: .ok, kind: .value, value: value, bufferSize: 0)
        case .buffer(let memory):
            answerArea.copy(UnsafeRawBufferPointer(start: memory.base, count: memory.size))
            self.init(status: .ok, kind: .buffer, value: 0, bufferSize: UInt64(memory.size))
        }
    }
}

extension ReplyTarget {
    /// Copies the start of `bytes` into the area, as much as fits.
    func copy(_ bytes: UnsafeRawBufferPointer) {
        let count = min(bytes.count, length)
        UnsafeMutableRawBufferPointer(rebasing: pages.bytes[offset..<(offset + count)])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<count]))
    }
}
