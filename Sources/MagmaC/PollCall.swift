import CMagma
import Magma
import MagmaCSupport
import MagmaPlatform
import MagmaProtocol
import SystemPackage

/// Fuchsia's magma_poll, extended as `Poll.wait` is: a semaphore or performance-counter pool of
/// a failed connection ends the wait with the connection's error, its notification channel with
/// CONNECTION_LOST.
@c @implementation
public func magma_poll(_ items: UnsafeMutablePointer<magma_poll_item_t>?, _ count: UInt32, _ timeout_ns: UInt64) -> magma_status_t {
    status { () throws(MagmaError) in
        guard count > 0 else { throw .invalidArgs("no poll items") }
        guard UInt64(count) <= CLimits.maxArrayCount else { throw .invalidArgs("\(count) poll items") }
        let items = UnsafeMutableBufferPointer(start: try required(items, "items"), count: Int(count))
        let connections = Handles.connections.all
        var polled: [(index: Int, item: PollItem)] = []
        for index in items.indices {
            items[index].result = 0
            let item = items[index]
            guard item.condition != 0 else { continue }
            switch item.type {
            case MAGMA_POLL_TYPE_SEMAPHORE:
                guard item.condition == MAGMA_POLL_CONDITION_SIGNALED else { throw .invalidArgs("a semaphore item waits for SIGNALED") }
                polled.append((index, .semaphore(try lookUp(semaphore: item.semaphore))))
            case MAGMA_POLL_TYPE_HANDLE:
                guard item.condition == MAGMA_POLL_CONDITION_READABLE else { throw .invalidArgs("a handle item waits for READABLE") }
                let descriptor = Int32(bitPattern: item.handle)
                guard descriptor >= 0 else { throw .invalidArgs("handle \(descriptor)") }
                polled.append((index, pollItem(handle: FileDescriptor(rawValue: descriptor), connections)))
            default:
                throw .invalidArgs("unknown poll item type \(item.type)")
            }
        }
        guard !polled.isEmpty else {
            // Every item is ignored: wait out the timeout, as poll(2) with no descriptors does.
            _ = try? Poller.poll([], timeoutNanoseconds: timeout_ns)
            throw MagmaError(.timedOut, "nothing to become ready")
        }
        let ready = try Poll.wait(polled.map(\.item), timeoutNanoseconds: timeout_ns)
        for (position, entry) in polled.enumerated() where ready[position] { items[entry.index].result = items[entry.index].condition }
    }
}

/// A handle item as `Poll` sees it: a connection's notification channel, a pool's notification
/// handle, or any other descriptor.
private func pollItem(handle descriptor: FileDescriptor, _ connections: [CConnection]) -> PollItem {
    for opened in connections {
        if opened.connection.notificationDescriptor == descriptor { return .notifications(opened.connection) }
        if let pool = opened.pool(descriptor: descriptor) { return .performanceCounterPool(pool) }
    }
    return .descriptor(descriptor)
}
