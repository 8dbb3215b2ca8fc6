import MagmaPlatform
import MagmaProtocol

extension BufferRangeOp {
    /// Checks the range of a COMMIT or DECOMMIT of a buffer of `bufferSize` bytes, as every
    /// backend that applies one itself must: whole pages, not empty (INVALID_ARGS), and inside
    /// the buffer (past its end: MEMORY_ERROR for a commit, INVALID_ARGS for a decommit).
    public func checkPages(offset: UInt64, length: UInt64, bufferSize: UInt64) throws(MagmaError) {
        guard length > 0, SharedMemory.isPageAligned(offset), SharedMemory.isPageAligned(length) else {
            throw .invalidArgs("\(self) of \(offset)+\(length): offset and length must be whole pages of \(SharedMemory.pageSize) bytes")
        }
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= bufferSize else {
            let message = "\(self) of \(offset)+\(length) passes the end of a buffer of \(bufferSize) bytes"
            throw self == .commit ? .memoryError(message) : .invalidArgs(message)
        }
    }
}
