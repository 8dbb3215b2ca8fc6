import MagmaPlatform

extension VhostUserBackend {
    /// The queue thread: polls the wake eventfd, the kick eventfd of every active ring and the
    /// eventfd of every deferred completion, and does what is ready. No busy polling: it sleeps
    /// in one poll(2) until one of them is signaled.
    func runQueues() {
        defer { ended.signal() }
        while true {
            // The descriptors polled are held (by the semaphores) until the poll returns.
            let (stopping, kicks, pending) = state.withLock { state in
                (state.stopping,
                 state.rings.indices.compactMap { index in state.rings[index].isActive ? state.rings[index].kick.map { (index, $0) } : nil },
                 state.pending.map(\.signal))
            }
            if stopping { return }
            let requests = [PollRequest(descriptor: wake.descriptor.fileDescriptor)]
                + kicks.map { PollRequest(descriptor: $0.1.descriptor.fileDescriptor) }
                + pending.map { PollRequest(descriptor: $0.descriptor.fileDescriptor) }
            guard let ready = try? Poller.poll(requests, timeoutNanoseconds: Poller.forever) else { return }
            if ready[0] { wake.reset() }
            for (offset, (_, kick)) in kicks.enumerated() where ready[1 + offset] { kick.reset() }
            if pending.indices.contains(where: { ready[1 + kicks.count + $0] }) { completeSignaled() }
            // Every active ring is looked at after any wake-up: a ring just started or enabled
            // may hold entries made available before its kick was polled.
            for index in 0..<device.queueCount { process(queue: index) }
        }
    }

    /// Takes every chain the driver made available on `queue` and hands it to the device.
    /// Chains the device completes at once go to the used ring now; the others wait for their
    /// eventfd. A bad chain fails the ring (never the back-end, never another ring).
    func process(queue index: Int) {
        state.withLock { state in
            guard state.rings[index].isActive, var queue = state.rings[index].queue else { return }
            var published = false
            defer {
                state.rings[index].queue = queue
                if published { state.rings[index].interrupt() }
            }
            while true {
                let chain: DescriptorChain
                do throws(VhostUserError) {
                    guard let next = try queue.next() else { return }
                    chain = next
                } catch {
                    state.rings[index].fail(error)
                    return
                }
                let completion = device.handle(chain, queue: index)
                if let signal = completion.after, !signal.isSignaled {
                    state.pending.append(DeferredCompletion(queue: index, generation: state.rings[index].generation,
                                                            chain: chain, completion: completion, signal: signal))
                } else {
                    queue.complete(head: chain.head, written: UInt32(chain.write(completion.response)))
                    published = true
                }
            }
        }
    }

    /// Publishes every deferred chain whose eventfd is signaled (in the order they were taken).
    private func completeSignaled() {
        state.withLock { state in
            var interrupted = Set<Int>()
            state.pending.removeAll { deferred in
                guard deferred.signal.isSignaled else { return false }
                let ring = state.rings[deferred.queue]
                guard ring.generation == deferred.generation, var queue = ring.queue else { return true }
                queue.complete(head: deferred.chain.head, written: UInt32(deferred.chain.write(deferred.completion.response)))
                state.rings[deferred.queue].queue = queue
                interrupted.insert(deferred.queue)
                return true
            }
            for index in interrupted { state.rings[index].interrupt() }
        }
    }
}
