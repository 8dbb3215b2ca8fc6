import CMagma
import Magma
import MagmaPlatform
import MagmaProtocol

@c @implementation
public func magma_poll(_ items: UnsafeMutablePointer<magma_poll_item_t>?, _ count: UInt32, _ timeout_ns: UInt64) -> magma_status_t {
    status { () throws(MagmaError) in
        guard count > 0 else { throw .invalidArgs("no poll items") }
        guard UInt64(count) <= CLimits.maxArrayCount else { throw .invalidArgs("\(count) poll items") }
        let items = UnsafeMutableBufferPointer(start: try required(items, "items"), count: Int(count))
        var requests: [PollRequest] = []
        var polled: [Int] = []          // item index of each request
        var channels: [CConnection] = []  // connections whose notification channel is polled
        let connections = Handles.connections.all
        for index in items.indices {
            items[index].result = 0
            let item = items[index]
            guard item.condition != 0 else { continue }
            switch item.type {
            case MAGMA_POLL_TYPE_SEMAPHORE:
                guard item.condition == MAGMA_POLL_CONDITION_SIGNALED else { throw .invalidArgs("a semaphore item waits for SIGNALED") }
                requests.append(PollRequest(descriptor: try lookUp(semaphore: item.semaphore).object.pollDescriptor))
            case MAGMA_POLL_TYPE_HANDLE:
                guard item.condition == MAGMA_POLL_CONDITION_READABLE else { throw .invalidArgs("a handle item waits for READABLE") }
                let descriptor = Int32(bitPattern: item.handle)
                guard descriptor >= 0 else { throw .invalidArgs("handle \(descriptor)") }
                requests.append(PollRequest(descriptor: descriptor))
                channels += connections.filter { $0.connection.notificationDescriptor == descriptor }
            default:
                throw .invalidArgs("unknown poll item type \(item.type)")
            }
            polled.append(index)
        }
        try checkChannels(channels)
        let ready: [Bool]
        do { ready = try Poller.poll(requests, timeoutNanoseconds: timeout_ns) } catch { throw .internalError("\(error)") }
        try checkChannels(channels)
        for (request, index) in polled.enumerated() where ready[request] { items[index].result = items[index].condition }
        guard ready.contains(true) else { throw MagmaError(.timedOut, "nothing became ready") }
    }
}

/// CONNECTION_LOST if a polled notification channel's connection has closed.
private func checkChannels(_ channels: [CConnection]) throws(MagmaError) {
    for channel in channels {
        if let error = channel.error { throw MagmaError(.connectionLost, "connection closed: \(error)") }
    }
}
