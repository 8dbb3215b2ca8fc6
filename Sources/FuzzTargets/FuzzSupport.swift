import MagmaPlatform

/// What the guest-facing fuzz targets (virtio, vhost-user) share.
enum FuzzSupport {
    /// Writes `bytes` into `ram` from the start of page `page`, cut at its end.
    static func write(_ bytes: [UInt8], page: Int, into ram: SharedMemory) {
        let start = page * SharedMemory.pageSize
        let count = min(bytes.count, ram.size - start)
        UnsafeMutableRawBufferPointer(start: ram.base, count: ram.size)[start..<(start + count)].copyBytes(from: bytes.prefix(count))
    }

    /// Runs `close` on a thread of its own and traps if it has not returned within ten seconds:
    /// a close that hangs is a bug the fuzzer reports.
    static func closeWithinTenSeconds(_ what: String, _ close: @escaping @Sendable () -> Void) {
        let closed: EventSemaphore
        do {
            closed = try EventSemaphore()
            try HostThread.spawn(name: "fuzz.close") {
                close()
                closed.signal()
            }
        } catch { fatalError("the target cannot close the \(what): \(error)") }
        precondition(closed.wait(timeoutNanoseconds: 10_000_000_000), "the \(what)'s close did not return within 10 s")
    }
}
