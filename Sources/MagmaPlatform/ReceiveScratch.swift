import Glibc

/// The buffer a socket receive lands in before its bytes are copied into a message of their
/// exact size: one per thread, grown to the largest capacity that thread asked for and freed
/// when the thread ends. A receive then allocates only what the message holds, where a buffer
/// of the whole capacity per message (64 KiB for the protocol's sockets) would be allocated
/// every time and kept as the message's capacity while it waits.
enum ReceiveScratch {
    /// Each thread's block: its capacity in the first word, the bytes after `headerBytes`.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let created = pthread_key_create(&key) { free($0) }
        precondition(created == 0, "pthread_key_create failed: \(created)")
        return key
    }()
    private static let headerBytes = 16

    /// Calls `body` with this thread's buffer of at least `capacity` bytes (its contents are
    /// whatever an earlier receive left). `body` must not keep the pointer.
    static func withBuffer<R>(capacity: Int, _ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        var block = pthread_getspecific(key)
        if block == nil || block!.load(as: Int.self) < capacity {
            guard let grown = realloc(block, headerBytes + capacity) else { fatalError("out of memory for a \(capacity)-byte receive") }
            grown.storeBytes(of: capacity, as: Int.self)
            pthread_setspecific(key, grown)
            block = grown
        }
        return body(UnsafeMutableRawBufferPointer(start: block! + headerBytes, count: capacity))
    }
}
